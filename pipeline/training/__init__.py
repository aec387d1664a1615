"""The training engine: the loop and its state, resident or streamed train rows, the
checkpoint, torch set-up (threads, determinism, device), several processes through
torch.distributed, and the epoch log (TensorBoard, dvclive)."""
