"""Read side: views, runners, replay and time travel (the NATS relay and the contracts: `relay`)."""
