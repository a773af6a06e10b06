"""The imperative shell: Kafka I/O, Faust agents, metrics, the command line, replay and demo."""
