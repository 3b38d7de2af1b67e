"""HTTP adapter (FastAPI) over `egate`, and the `egate` command line.

The only package, with the CLI, that reads the environment (through
`api.settings`). No business rule lives here.
"""
