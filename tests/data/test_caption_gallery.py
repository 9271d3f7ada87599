"""Gallery captioning with Beam RunInference on a captioner's SavedModel
(multi-process DirectRunner) gives the library's captions; bad images are
counted."""

import pandas as pd
import pytest

from data_pipelines.caption_gallery import caption_gallery, read_captions
from mmvision import configs
from mmvision.data.sources import folders

pytestmark = pytest.mark.large


def test_beam_captions_equal_the_library(demo_world, tmp_path):
    from mmvision.export import export_captioner
    from mmvision.inference.captioner import CaptionerRun, caption_images
    from mmvision.training import fit_task

    run = tmp_path / "cap"
    cfg = configs.apply_overrides(
        configs.get_preset("captioner", "demo_captioner_smoke"),
        ["train.epochs=1", "train.evaluate=false"],
    )
    fit_task("captioner", cfg, demo_world, run)
    export = export_captioner(run, tmp_path / "export")
    m = folders(demo_world / "folders")[0].iloc[:12][["id", "image_path"]]
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 not really")
    rows = pd.concat(
        [m, pd.DataFrame({"id": ["broken", "gone"],
                          "image_path": [str(bad), str(tmp_path / "gone.jpg")]})],
        ignore_index=True,
    )  # fmt: skip
    manifest = tmp_path / "m.parquet"
    rows.to_parquet(manifest, index=False)
    meta = caption_gallery(str(manifest), str(tmp_path / "out"), str(export),
                           num_shards=2, direct_num_workers=2)  # fmt: skip
    assert meta["written"] == 12 and sum(meta["skipped"].values()) == 2
    got = read_captions(tmp_path / "out")
    r = CaptionerRun(run)
    beam, _ = r.beam_and_alpha(None)
    want = caption_images(r, list(m["image_path"]), beam=beam)
    assert got == {i: w.caption for i, w in zip(m["id"], want)}
    with pytest.raises(ValueError, match="saved_model.pb"):
        caption_gallery(str(manifest), str(tmp_path / "o2"), str(tmp_path))
