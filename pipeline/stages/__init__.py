"""One thin module per DVC stage and command: load typed params, read inputs, call the
engines, write outputs atomically. No stage imports another."""
