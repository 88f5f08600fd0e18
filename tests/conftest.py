import torch

# Tests use tiny tensors: one thread avoids oversubscription on small shared machines.
torch.set_num_threads(1)
