"""`python -m hierl.evaluate run_dir=<folder> [overrides]`: replay a trained policy and write a new run folder.

The source run's own command-line overrides are applied first, then yours, so by default the replay sees exactly
the training run's config; override `data.*` to test the same policy on another date range or on your own file.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import hydra
import yaml
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from hierl.config.moved_keys import rename_moved_keys, renamed
from hierl.config.paths import config_dir
from hierl.config.store import register_configs
from hierl.entrypoint import override_key, run_job, typed_config

register_configs()

_source_run: Path | None = None


def merge_overrides(saved: list[str], given: list[str]) -> list[str]:
    """Saved overrides, minus those whose key the user sets again, then the user's."""
    given_keys = {override_key(o) for o in given}
    return [o for o in saved if override_key(o) not in given_keys] + given


def split_run_dir(argv: list[str]) -> tuple[Path, list[str]]:
    """Take `run_dir=<folder>` out of the arguments."""
    run_dirs = [a for a in argv if a.startswith("run_dir=")]
    if len(run_dirs) != 1:
        raise SystemExit("usage: python -m hierl.evaluate run_dir=<training run folder> [overrides ...]")
    run_dir = Path(run_dirs[0].split("=", 1)[1])
    overrides_file = run_dir / ".hydra" / "overrides.yaml"
    if not overrides_file.is_file():
        raise SystemExit(f"error: {run_dir} is not a hierl run folder (no .hydra/overrides.yaml)")
    return run_dir, [a for a in argv if not a.startswith("run_dir=")]


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="train")
def _hydra_main(cfg: DictConfig) -> float:
    from hierl.orchestration.replay import replay_run

    assert _source_run is not None
    source = _source_run
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        config = typed_config(cfg)
        return run_job(
            run_dir,
            config.optimized_metric,
            lambda: replay_run(config, source, run_dir),
            title=f"replay of {source.name}",
        )
    except BaseException:
        # A replay that did not finish has no result worth keeping: its folder goes, so no near-empty
        # `<run>_replay_<time>/` is left for compare to trip over. The error itself was already printed or raised.
        shutil.rmtree(run_dir, ignore_errors=True)
        raise


def main() -> None:
    """Console-script entry (`hierl-evaluate`)."""
    global _source_run
    source, given = split_run_dir(sys.argv[1:])
    saved = yaml.safe_load((source / ".hydra" / "overrides.yaml").read_text()) or []
    _source_run = source
    out_dir = source.parent / f"{source.name}_replay_${{now:%Y-%m-%d_%H-%M-%S}}"
    # A run saved before the multistage group existed spells its keys the old way; both get today's names.
    overrides = merge_overrides([renamed(o) for o in saved], rename_moved_keys(given))
    sys.argv = [sys.argv[0], *overrides, f"hydra.run.dir={out_dir}"]
    _hydra_main()


if __name__ == "__main__":
    main()
