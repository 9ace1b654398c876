"""prow-crawler: record finished Prow (OpenShift CI) builds in Logilica, concurrently."""

__version__ = "0.1.0"
