"""The bot's web server (aiohttp): /livez, /readyz and /metrics, and the web gallery's pages under
/gallery/. It knows nothing of Discord or the store: the composition root hands it the checks,
the metrics and the core's WebGallery."""
