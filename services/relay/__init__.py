"""The relay: the event log published to NATS JetStream as CloudEvents (events -> NATS).

- ``relay.service``: ``RelayService`` (follows the log with ``okr.log``, publishes in
  acknowledged batches) and ``run`` (``okr relay``);
- ``relay.positions``: the relay's stored position (``okr_relay_positions``);
- ``relay.publisher``: the lean JetStream batch publisher;
- ``relay.contracts``: the CloudEvent envelope and the JSON Schema contracts of every published
  event type; ``relay.asyncapi``: the AsyncAPI document generated from them;
- ``relay.live``: ``subscribe_live``, the published events for other processes.
"""

from relay.contracts import CloudEventMessage, cloudevent, to_message
from relay.live import subscribe_live
from relay.positions import POSITION_TABLE, PositionStore, open_position_store
from relay.service import RelayLag, RelayService, run

__all__ = [
    "POSITION_TABLE",
    "CloudEventMessage",
    "PositionStore",
    "RelayLag",
    "RelayService",
    "cloudevent",
    "open_position_store",
    "run",
    "subscribe_live",
    "to_message",
]
