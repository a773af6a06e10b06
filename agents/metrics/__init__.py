"""What a worker exports: the metric definitions, the collector that fills them, the HTTP endpoint."""
