"""penstock's model server: TF Serving's REST and gRPC APIs over the SavedModels the Pusher writes
(``<base>/<model_name>/<version>/``), with version polling, labels, traffic splits, request
batching and Prometheus metrics. Start it with ``penstock serve`` (penstock.serving.cli:serve).
Importing this package imports no TensorFlow; loading a model does."""
