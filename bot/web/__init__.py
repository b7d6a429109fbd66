"""The health and metrics web server (aiohttp): /livez, /readyz and /metrics. It knows nothing of
Discord or the store: the composition root hands it the checks and the metrics."""
