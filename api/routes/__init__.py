"""One module per resource; `api.app` mounts each module's `router` under `/v1`."""
