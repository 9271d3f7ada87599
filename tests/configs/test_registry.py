"""`mmvision.configs`: one preset registry for every task, frozen configs,
JSON round trips, and the WebVision study's presets."""

import dataclasses

import pytest

from mmvision import configs

TASKS = ("captioner", "classifier", "concept_tagger", "embedder")
SMOKE = {
    "classifier": "demo_classifier_smoke",
    "captioner": "demo_captioner_smoke",
    "concept_tagger": "demo_concept_tagger_smoke",
    "embedder": "demo_embedder_smoke",
}

# The study's table: preset -> (image tower, text tower kind, optimizer, batch).
STUDY = {
    "webvision_inceptionv3": ("inceptionv3", None, "adagrad", 256),
    "webvision_resnet50v2": ("resnet50v2", None, "nadam", 256),
    "webvision_mobilenetv2": ("mobilenetv2", None, "nadam", 256),
    "webvision_use_dnn": (None, "use", "adamax", 256),
    "webvision_resnet50v2_use": ("resnet50v2", "use", "adamax", 128),
    "webvision_inceptionv3_use": ("inceptionv3", "use", "adagrad", 128),
    "webvision_mobilenetv2_use": ("mobilenetv2", "use", "adamax", 128),
    "webvision_bert_dnn": (None, "bert", "nadam", 256),
    "webvision_inceptionv3_bert": ("inceptionv3", "bert", "adagrad", 128),
    "webvision_resnet50v2_bert": ("resnet50v2", "bert", "nadam", 128),
    "webvision_mobilenetv2_bert": ("mobilenetv2", "bert", "nadam", 128),
}


def test_tasks_and_smoke_presets_are_registered():
    assert sorted(configs.tasks()) == list(TASKS)
    for task, name in SMOKE.items():
        assert name in configs.preset_names(task)
    every = configs.preset_names()
    assert sorted(every) == sorted(n for t in TASKS for n in configs.preset_names(t))


@pytest.mark.parametrize("task", TASKS)
def test_every_preset_builds_with_its_task_and_name(task):
    names = configs.preset_names(task)
    assert SMOKE[task] in names
    for name in names:
        cfg = configs.get_preset(task, name)
        assert (cfg.task, cfg.preset) == (task, name)
        assert isinstance(cfg, configs.CONFIG_CLASSES[task]), name
        assert configs.get_preset(task, name) == cfg, name  # a fresh, equal copy
        assert configs.find_task(name) == task, name


@pytest.mark.parametrize("task", TASKS)
def test_every_preset_round_trips_through_a_dict(task):
    for name in configs.preset_names(task):
        cfg = configs.get_preset(task, name)
        data = configs.to_dict(cfg)
        assert data["task"] == task and data["preset"] == name
        assert configs.config_from_dict(data) == cfg, name
        assert configs.from_dict(type(cfg), data) == cfg, name


def test_unknown_task_and_preset_list_the_valid_names():
    with pytest.raises(ValueError, match="unknown task 'nope'.*classifier"):
        configs.get_preset("nope", "demo_fused")
    with pytest.raises(ValueError, match="unknown task.*captioner"):
        configs.preset_names("nope")
    with pytest.raises(ValueError, match="demo_classifier_smoke") as e:
        configs.get_preset("classifier", "nope")
    assert "'nope'" in str(e.value)
    # A preset of another task is not found under the wrong task.
    with pytest.raises(ValueError, match="demo_captioner_smoke"):
        configs.get_preset("captioner", "demo_classifier_smoke")
    with pytest.raises(ValueError, match="unknown task|valid"):
        configs.get_preset("demo_classifier_smoke", "classifier")  # name first
    with pytest.raises(ValueError, match="no task"):
        configs.find_task("nope")
    with pytest.raises(ValueError, match="valid"):
        configs.config_from_dict({"task": "nope"})


@pytest.mark.parametrize("task", TASKS)
def test_configs_are_frozen_and_overrides_return_new_ones(task):
    cfg = configs.get_preset(task, SMOKE[task])
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.preset = "other"
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.train.epochs = 99
    new = configs.apply_overrides(cfg, ["train.epochs=7"])
    assert new.train.epochs == 7 and cfg.train.epochs != 7
    assert new.task == task and new.preset == cfg.preset
    with pytest.raises(dataclasses.FrozenInstanceError):
        new.train.epochs = 1
    assert configs.config_from_dict(configs.to_dict(new)) == new


def test_overrides_parse_types_and_reject_unknown_keys():
    cfg = configs.apply_overrides(
        configs.get_preset("classifier", "demo_classifier_smoke"),
        [
            "train.epochs=3",
            "model.modality_dropout=0.25",
            "data.fields=title,tags",
            "model.image_tower=none",
            'model.text_options={"mode": "tf_idf"}',
            "model.share_text_tower=true",
        ],
    )
    assert cfg.train.epochs == 3 and cfg.model.modality_dropout == 0.25
    assert cfg.data.fields == ("title", "tags") and cfg.model.image_tower is None
    assert cfg.model.text_options == {"mode": "tf_idf"} and cfg.model.share_text_tower
    assert configs.from_dict(configs.ClassifierConfig, configs.to_dict(cfg)) == cfg
    for bad, match in [
        ("train.nope=1", "unknown key"),
        ("train.epochs=x", "not a valid"),
        ("train=3", "section"),
        ("epochs", "key=value"),
    ]:
        with pytest.raises(ValueError, match=match):
            configs.apply_overrides(cfg, [bad])
    with pytest.raises(ValueError, match="unknown keys"):
        configs.from_dict(configs.ClassifierConfig, {"bogus": 1})


def test_study_presets_match_the_table():
    study = [n for n in configs.preset_names("classifier") if n.startswith("webvision")]
    assert sorted(study) == sorted(STUDY)
    for name, (image, text, optimizer, batch) in STUDY.items():
        p = configs.get_preset("classifier", name)
        t = p.train
        assert (t.optimizer, t.learning_rate, t.batch_size) == (
            optimizer,
            pytest.approx(1e-3),
            batch,
        ), name
        assert p.model.image_tower == image, name
        assert p.data.image_size == 300, name
        if image:
            assert p.model.image_weights == "imagenet", name
            assert p.model.freeze_fraction == 0.5, name
        if text is None:
            assert p.model.text_tower is None, name
        else:
            spec = p.model.text_tower
            prefix = ("keras_hub:", "hub:") if text == "bert" else ("hub:",)
            word = {"bert": "bert", "use": "sentence-encoder"}[text]
            assert spec.startswith(prefix) and word in spec.lower(), (name, spec)
        # unimodal 256, multimodal 128
        assert batch == (128 if image and text else 256), name
