"""tf.Example and TFRecord codecs shared by the data components: column-wise encoding and
decoding of tf.Examples (``example_encoder``, ``example_decoder``), TFRecord framing, gzip,
reading and writing (``tfrecords``) and a Beam sink writing batches of records
(``tfrecord_sink``)."""
