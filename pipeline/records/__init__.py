"""TFRecord shards: schema (one module for writer and readers), balancing, writing,
the ``tf.data`` input pipeline and its preprocessing ops."""
