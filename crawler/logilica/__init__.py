"""Writing Logilica: the payload mapping, step stages, the API client, batching and uploads."""
