"""Where a second torch thread starts to pay: one Adam update of an MLP, by width, at 1 and 2 threads.

    PYTHONPATH=. python benchmarks/bench_threads.py            # about a minute
    PYTHONPATH=. python benchmarks/bench_threads.py --quick

Each network is 612 inputs (the default PPO observation) -> two hidden layers of the width -> 1, updated on
batches of 256 (PPO's default), as PPO's actor or critic is. Every (width, threads) pair is timed in its own
process, on a quiet machine and with another process spinning on one core (`busy`). The ratio 2 threads / 1
thread below 1 means the second thread pays; `hierl.runtime.LARGE_NETWORK_PARAMETERS` is where the policy starts
giving a network the process's whole CPU budget. Writes `benchmarks/results/threads.json` and `threads.md`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from bench_common import markdown_table, write_results

from hierl.runtime import LARGE_NETWORK_PARAMETERS, mlp_parameters

N_INPUTS = 612
BATCH = 256

TIMER = f"""
import sys, time, torch
width, threads, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
torch.set_num_threads(threads)
torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Linear({N_INPUTS}, width), torch.nn.Tanh(), torch.nn.Linear(width, width),
                          torch.nn.Tanh(), torch.nn.Linear(width, 1))
optimizer = torch.optim.Adam(net.parameters())
x = torch.randn({BATCH}, {N_INPUTS})
def update():
    optimizer.zero_grad()
    net(x).pow(2).mean().backward()
    optimizer.step()
for _ in range(10):
    update()
count, started = 0, time.perf_counter()
while time.perf_counter() - started < seconds:
    update()
    count += 1
print((time.perf_counter() - started) / count)
"""


def update_seconds(width: int, threads: int, seconds: float) -> float:
    """Mean seconds per update in a fresh process (torch's thread pool is set before any work)."""
    result = subprocess.run(
        [sys.executable, "-c", TIMER, str(width), str(threads), str(seconds)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    widths, seconds = ([64, 512], 0.5) if args.quick else ([64, 256, 512, 1024], 2.0)
    rows = []
    for condition in ("quiet", "busy"):
        spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if condition == "busy" else None
        try:
            for width in widths:
                one, two = (update_seconds(width, threads, seconds) for threads in (1, 2))
                rows.append(
                    {
                        "condition": condition,
                        "width": width,
                        "parameters": mlp_parameters(N_INPUTS, [width, width], 1),
                        "one_thread_ms": one * 1e3,
                        "two_threads_ms": two * 1e3,
                        "ratio": two / one,
                    }
                )
                print(json.dumps(rows[-1]))
        finally:
            if spinner is not None:
                spinner.kill()
                spinner.wait()
    table = [
        [
            r["condition"],
            f"[{r['width']}, {r['width']}]",
            f"{r['parameters']:,}",
            f"{r['one_thread_ms']:.2f}",
            f"{r['two_threads_ms']:.2f}",
            f"{r['ratio']:.2f}",
        ]
        for r in rows
    ]
    markdown = "\n".join(
        [
            "### One Adam update (batch 256, 612 inputs) at 1 and 2 torch threads",
            "",
            f"The policy gives one thread below {LARGE_NETWORK_PARAMETERS:,} parameters per network.",
            "",
            markdown_table(["machine", "hidden", "parameters", "1 thread ms", "2 threads ms", "2 / 1"], table),
        ]
    )
    print(markdown)
    payload = {"benchmark": "threads", "config": {"widths": widths, "seconds": seconds}, "rows": rows}
    for path in write_results("threads", payload, markdown):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
