"""Epoch throughput: kdviz's training loop against a plain DataLoader loop on the same model and loss.

    python benchmarks/bench_training_loop.py [--n 60000] [--hidden 800] [--epochs 1] [--repeats 3]

Both loops train a 784-H-H-10 student with SGD and kd_loss at batch size 128. The kdviz loop
keeps the whole transfer set as one tensor and slices batches from a permutation; the plain loop
uses TensorDataset + DataLoader(shuffle=True), the usual tutorial pattern. Both are warmed up
first (the first training run in a process is slower whichever loop it is), then timed in
alternation; the medians are compared.
"""

import argparse

import torch
from _common import header, median_times, transfer_set, warm_up
from torch.utils.data import DataLoader, TensorDataset

from kdviz.mnist.losses import kd_loss
from kdviz.mnist.models import student_mlp
from kdviz.mnist.train import StudentConfig, choose_device, train_students


def dataloader_epochs(x, y, teacher_logits, hidden, epochs, T=4.0, alpha=0.5):
    torch.manual_seed(0)
    model = student_mlp(hidden).to(x.device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    loader = DataLoader(TensorDataset(x.cpu(), y.cpu(), teacher_logits.cpu()), batch_size=128, shuffle=True)
    for _ in range(epochs):
        for xb, yb, tb in loader:
            xb, yb, tb = xb.to(x.device), yb.to(x.device), tb.to(x.device)
            loss = kd_loss(model(xb), tb, yb, T, alpha)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=60000)
    parser.add_argument("--hidden", type=int, default=800)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    device = choose_device()
    x, y, teacher_logits, source = transfer_set(args.n, device)
    header(f"training-loop throughput, {args.n} {source}, 784-{args.hidden}x2-10, {args.epochs} epochs", device)
    config = StudentConfig(hidden=args.hidden, epochs=args.epochs)

    def kdviz_loop(n=None):
        return train_students(x[:n], y[:n], teacher_logits[:n], 4.0, 0.5, config, progress=False)

    def plain_loop(n=None):
        return dataloader_epochs(x[:n], y[:n], teacher_logits[:n], args.hidden, args.epochs)

    warm_up(lambda: kdviz_loop(2048), lambda: plain_loop(2048))
    kdviz_s, plain_s = median_times([kdviz_loop, plain_loop], args.repeats)
    images = args.n * args.epochs
    print(f"  median of {args.repeats} runs each, alternating")
    print(f"  kdviz loop       {kdviz_s:7.2f} s  {images / kdviz_s:9.0f} images/s")
    print(f"  DataLoader loop  {plain_s:7.2f} s  {images / plain_s:9.0f} images/s")
    print(f"  ratio (kdviz throughput / DataLoader throughput): {plain_s / kdviz_s:.2f}x")


if __name__ == "__main__":
    main()
