"""The networks of the paper's MNIST experiment, as plain torch modules.

Teacher: 784-1200-1200-10 ReLU MLP with dropout on the input and hidden layers.
Student: 784-H-H-10 ReLU MLP without dropout (H = 800 in the paper; 30 or 100 in the lab).
``StackedStudents`` holds K students of one size as stacked weight tensors and runs them all
with batched matrix products (torch.bmm: K matrix products in one call), so a T x alpha grid,
or several seeds of one setting, trains in one pass.
"""

import torch
from torch import nn

N_PIXELS, N_CLASSES = 784, 10


def mlp(hidden, depth=2, dropout_input=0.0, dropout_hidden=0.0):
    """784 -> hidden (x depth, ReLU) -> 10, with optional dropout before each weight layer."""
    layers, width = [], N_PIXELS
    for k in range(depth):
        layers += [
            nn.Dropout(dropout_input if k == 0 else dropout_hidden),
            nn.Linear(width, hidden),
            nn.ReLU(),
        ]
        width = hidden
    layers += [nn.Dropout(dropout_hidden), nn.Linear(width, N_CLASSES)]
    return nn.Sequential(*[layer for layer in layers if not (isinstance(layer, nn.Dropout) and layer.p == 0)])


def mlp_weights(hidden, depth=2):
    """Weights and biases of one 784-hidden(-hidden...)-10 network (a student, or the teacher)."""
    return N_PIXELS * hidden + hidden + (depth - 1) * (hidden * hidden + hidden) + hidden * N_CLASSES + N_CLASSES


def teacher_mlp(hidden=1200, dropout_input=0.2, dropout_hidden=0.5):
    return mlp(hidden, dropout_input=dropout_input, dropout_hidden=dropout_hidden)


def student_mlp(hidden=800):
    return mlp(hidden)


class StackedStudents(nn.Module):
    """K dropout-free MLPs of the same shape evaluated together: input (N, 784) -> logits (K, N, 10)."""

    def __init__(self, students):
        super().__init__()
        linears = [[m for m in s if isinstance(m, nn.Linear)] for s in students]
        depth = len(linears[0])
        # weights[j][k] is student k's layer j as (in, out), so h @ W works batched
        self.weights = nn.ParameterList(
            nn.Parameter(torch.stack([ls[j].weight.detach().T.clone() for ls in linears])) for j in range(depth)
        )
        self.biases = nn.ParameterList(
            nn.Parameter(torch.stack([ls[j].bias.detach().clone() for ls in linears]).unsqueeze(1))
            for j in range(depth)
        )

    @property
    def n_students(self):
        return self.weights[0].shape[0]

    def forward(self, x):
        """x is (N, 784), one batch for every student, or (K, N, 784), each student its own batch."""
        K, n_in, n_out = self.weights[0].shape
        if x.dim() == 3:
            h = torch.baddbmm(self.biases[0], x, self.weights[0])
        else:  # one GEMM against all K first-layer weight matrices side by side
            h = (x @ self.weights[0].permute(1, 0, 2).reshape(n_in, K * n_out)).view(-1, K, n_out).transpose(0, 1)
            h = h + self.biases[0]
        for W, b in zip(self.weights[1:], self.biases[1:], strict=True):
            h = torch.baddbmm(b, torch.relu(h), W)
        return h

    def student(self, k):
        """Student k as an ordinary ``nn.Sequential``."""
        widths = [self.weights[0].shape[1]] + [W.shape[2] for W in self.weights]
        model = mlp(widths[1], depth=len(widths) - 2)
        linears = [m for m in model if isinstance(m, nn.Linear)]
        with torch.no_grad():
            for layer, W, b in zip(linears, self.weights, self.biases, strict=True):
                layer.weight.copy_(W[k].T)
                layer.bias.copy_(b[k, 0])
        return model
