"""The torch ports of the four networks, exported to ONNX for engine/runtime.py."""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from pathlib import Path

import torch

from engine import mtcnn_nets
from engine.dlib_resnet import load_dlib_resnet

log = logging.getLogger(__name__)


def export(folder: Path, sources: dict[str, Path]) -> None:
    """Write pnet.onnx, rnet.onnx, onet.onnx and dlib.onnx into ``folder``, then a file
    named ``complete``. Each file is written beside its place and renamed into it, so
    that processes exporting at once never read half a file."""
    folder.mkdir(parents=True, exist_ok=True)
    pnet, rnet, onet = mtcnn_nets.networks()
    dlib = load_dlib_resnet(sources["dlib"])
    dlib.channels_last = False
    batch = {0: "batch"}
    # P-Net's outputs are grids as large as its input: those axes vary too.
    jobs = {
        "pnet": (pnet, (1, 3, 40, 48), {0: "batch", 2: "rows", 3: "columns"}, ["offsets", "probs"]),
        "rnet": (rnet, (2, 3, 24, 24), batch, ["offsets", "probs"]),
        "onet": (onet, (2, 3, 48, 48), batch, ["offsets", "points", "probs"]),
        "dlib": (dlib, (2, 3, 150, 150), batch, ["descriptors"]),
    }
    for name, (module, shape, axes, outputs) in jobs.items():
        handle, scratch = tempfile.mkstemp(dir=folder, prefix=f".{name}-", suffix=".onnx")
        os.close(handle)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the exporter's notes on its own future
                torch.onnx.export(
                    module.eval(),
                    (torch.zeros(shape),),
                    scratch,
                    input_names=["x"],
                    output_names=outputs,
                    dynamic_axes={"x": axes, **dict.fromkeys(outputs, axes)},
                    opset_version=17,
                    dynamo=False,
                )
            os.replace(scratch, folder / f"{name}.onnx")
        finally:
            Path(scratch).unlink(missing_ok=True)
    (folder / "complete").write_text("")
    log.info("exported %s", ", ".join(jobs))


def main() -> None:
    """Export the networks now (the set-up does, so that the first photo need not)."""
    from engine import runtime
    from engine.config import Settings

    runtime.configure_cache(Settings.from_env().cache)
    print(f"ONNX networks in {runtime.onnx_files()['dlib'].parent}")


if __name__ == "__main__":
    main()
