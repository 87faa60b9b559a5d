"""What the owner sees from inside: the status page at ``/status`` and, when enabled, ``/metrics``."""
