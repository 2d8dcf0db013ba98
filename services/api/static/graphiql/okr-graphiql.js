// okr-service's GraphiQL: the vendored GraphiQL 3 standalone build against this server's
// /graphql (HTTP for queries and mutations, graphql-transport-ws for subscriptions). The token
// goes in the Headers tab, shown at start; GraphiQL also sends those headers as the WebSocket's
// connection params, which the server authenticates on connect.
(function () {
  "use strict";

  var TOKEN_HEADERS =
    '{\n  "Authorization": "Bearer <paste the token that okr serve or okr demo printed>"\n}';
  var WELCOME = [
    "# okr-service GraphiQL",
    "#",
    "# 1. Headers tab (below): replace the",
    "#    placeholder with your token:",
    '#    {"Authorization": "Bearer eyJ..."}',
    "#    okr serve and okr demo print one;",
    "#    okr token --org ORG --user NAME",
    "#    mints more. GraphiQL keeps headers",
    "#    in this browser's local storage.",
    "# 2. Run: Ctrl-Enter or the play button.",
    "#    Ctrl-Space completes; Docs on the left.",
    "",
    "{",
    "  me {",
    "    userId",
    "    orgId",
    "    roles",
    "  }",
    "}",
    "",
  ].join("\n");

  var params = new URLSearchParams(window.location.search);
  var endpoint = window.location.origin + window.location.pathname;

  function keepInURL(name, value) {
    var next = new URLSearchParams(window.location.search);
    if (value) {
      next.set(name, value);
    } else {
      next.delete(name);
    }
    var search = next.toString();
    window.history.replaceState(null, "", search ? "?" + search : window.location.pathname);
  }

  // "Bearer <jwt>" from the headers editor's JSON, or "" (the placeholder, invalid JSON, none)
  function bearerOf(text) {
    var headers;
    try {
      headers = JSON.parse(text || "{}");
    } catch (error) {
      return "";
    }
    for (var name in headers) {
      var value = headers[name];
      if (name.toLowerCase() === "authorization" && typeof value === "string") {
        var match = /^Bearer\s+([\w-]+\.[\w-]+\.[\w-]*)\s*$/.exec(value);
        return match ? match[1] : "";
      }
    }
    return "";
  }

  var h = React.createElement;

  // Inside GraphiQL (its footer): watches the headers editor, tells the page when the token
  // changes, and says where to paste one while there is none.
  function TokenWatcher(props) {
    var editor = GraphiQL.React.useEditorContext({ nonNull: true });
    var headerEditor = editor.headerEditor;
    var onToken = props.onToken;
    React.useEffect(
      function () {
        if (!headerEditor) {
          return undefined;
        }
        var timer = null;
        function check() {
          onToken(bearerOf(headerEditor.getValue()));
        }
        function changed() {
          window.clearTimeout(timer);
          timer = window.setTimeout(check, 300);
        }
        check();
        headerEditor.on("change", changed);
        return function () {
          window.clearTimeout(timer);
          headerEditor.off("change", changed);
        };
      },
      [headerEditor, onToken],
    );
    if (props.token) {
      return null;
    }
    return h(
      "p",
      { className: "okr-token-hint" },
      "No token yet: paste one in the Headers tab as ",
      h("code", null, '{"Authorization": "Bearer <token>"}'),
      " (okr serve and okr demo print one).",
    );
  }

  function OkrGraphiQL() {
    var state = React.useState("");
    var token = state[0];
    var setToken = state[1];
    // a new fetcher per token: GraphiQL introspects again, so Docs and completion follow the
    // pasted token; without a token there is nothing to introspect (the server answers 401)
    var fetcher = React.useMemo(
      function () {
        return GraphiQL.createFetcher({
          url: endpoint,
          subscriptionUrl: endpoint.replace(/^http/, "ws"),
        });
      },
      [token],
    );
    var props = {
      fetcher: fetcher,
      schema: token ? undefined : null,
      defaultQuery: WELCOME,
      defaultHeaders: TOKEN_HEADERS,
      defaultEditorToolsVisibility: "headers",
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: true,
      inputValueDeprecation: true,
      onEditQuery: function (query) {
        keepInURL("q", query);
      },
      onEditVariables: function (variables) {
        keepInURL("variables", variables);
      },
    };
    // a shared link: ?q=<query>&variables=<json> (not ?query=, which the server reads as a GET query)
    if (params.get("q")) {
      props.query = params.get("q");
    }
    if (params.get("variables")) {
      props.variables = params.get("variables");
    }
    return h(GraphiQL, props, h(GraphiQL.Footer, null, h(TokenWatcher, { token: token, onToken: setToken })));
  }

  ReactDOM.createRoot(document.getElementById("graphiql")).render(h(OkrGraphiQL));
})();
