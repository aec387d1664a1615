"""The network (an MLP that is always an ensemble of k >= 1 members), its embeddings, the
feature layout it reads from the preprocessing, its size without torch (for validate), the
model card's text, and inference: a trained model back from models/ and its predictions."""
