"""``mmvision train <task>``: one command shape for every task."""

from __future__ import annotations

import argparse

from mmvision.cli.common import (
    FORMATTER,
    CLIError,
    existing_dir,
    out_dir,
    print_metrics,
)

#: task -> (default preset, --set example, description); a task without an
#: entry still gets ``mmvision train <task>`` with its first preset.
TASKS = {
    "classifier": (
        "demo_fused",
        "model.text_tower=minilm",
        "Train a multimodal (image + text) classifier: the WebVision study's\n"
        "concatenation of image and text towers.",
    ),
    "captioner": (
        "demo_captioner",
        "train.epochs=3",
        "Train a CNN-LSTM merge captioner on a Flickr8k layout (or a demo world).\n"
        "demo_captioner first trains a small_resnet tower on the caption words\n"
        "into RUN/tower, then the decoder on its cached features; use another\n"
        "run's tower with --set features.pretrain=none --set features.source=RUN.",
    ),
    "concept_tagger": (
        "demo_concept_tagger",
        "train.epochs=10",
        "Train an image tower on the words of its images' captions (a feature\n"
        "source for the captioner when no pre-trained weights fit the images).",
    ),
    "embedder": (
        "demo_embedder",
        "train.mode=offline",
        "Train image similarity embeddings (image -> unit vector) with a ranking\n"
        "loss: offline triplets (deep ranking, triplet net) or online mining on\n"
        "P x K batches (train.miner=batch_hard|semi_hard|batch_all).",
    ),
}


HELP = {
    "classifier": "train a multimodal (image + text) classifier",
    "captioner": "train a CNN-LSTM merge captioner",
    "concept_tagger": "train an image tower on its captions' words",
    "embedder": "train image similarity embeddings with a ranking loss",
}


def cmd_train(args: argparse.Namespace) -> int:
    from mmvision import configs
    from mmvision.training import RunError, fit_task, run_dir

    task = args.verb
    try:
        if args.resume:
            base = configs.config_from_dict(
                run_dir.read_config(run_dir.prepare(args.out, resume=True))
            )
        else:
            if args.data is None:
                raise CLIError("--data is required (unless --resume)")
            base = configs.get_preset(task, args.preset)
        cfg = configs.apply_overrides(base, args.set or [])
        metrics = fit_task(
            task, cfg, args.data, args.out, resume=args.resume, strategy=args.strategy,
            data_service=args.data_service, data_service_mode=args.data_service_mode,
        )  # fmt: skip
    except (ValueError, RunError) as e:
        raise CLIError(str(e)) from None
    print_metrics(metrics)
    if task == "captioner":
        from mmvision.tasks.captioner_eval import BLEU_NOTE

        print(BLEU_NOTE)
    print(f"run written to {args.out}")
    return 0


def register(groups) -> None:
    from mmvision import configs
    from mmvision.cli.common import verbs

    sub = verbs(groups, "train", help="train a model into a run directory")
    for task in configs.registry.TASKS:
        first = configs.preset_names(task)[0]
        preset, example, text = TASKS.get(
            task, (first, "train.epochs=3", f"Train a {task} model.")
        )
        import textwrap

        names = textwrap.fill(", ".join(configs.preset_names(task)), 76)
        p = sub.add_parser(
            task,
            help=HELP.get(task, f"train a {task} model"),
            description=f"{text}\n\npresets:\n{names}",
            epilog=(
                f"example:\n  mmvision train {task} --preset {preset} --data "
                f"/tmp/world --out runs/{task} --set {example}\n"
                f"  mmvision train {task} --out runs/{task} --resume "
                "--set train.epochs=30"
            ),
            formatter_class=FORMATTER,
        )
        p.add_argument("--preset", default=preset, help=f"default {preset}")
        p.add_argument(
            "--data", type=existing_dir, help="dataset root (default with --resume: "
            "the run's)"
        )  # fmt: skip
        p.add_argument("--out", type=out_dir, required=True, help="run directory")
        p.add_argument(
            "--set", action="append", metavar="KEY=VALUE",
            help=f"override a config value, e.g. {example}",
        )  # fmt: skip
        p.add_argument(
            "--resume",
            action="store_true",
            help="continue the run in --out from its last checkpoint; --set may "
            f"change only {', '.join(configs.registry.task_class(task).resume_keys)}",
        )
        p.add_argument(
            "--strategy",
            default=None,
            choices=["default", "mirrored", "multiworker"],
            help="tf.distribute strategy (default: TensorFlow's default, one "
            "device); multiworker: MultiWorkerMirroredStrategy over $TF_CONFIG",
        )
        p.add_argument(
            "--data-service",
            metavar="grpc://HOST:PORT",
            help="produce the training batches on a tf.data service (its "
            "dispatcher's address; see 'mmvision data serve')",
        )
        p.add_argument(
            "--data-service-mode",
            default="parallel_epochs",
            choices=["parallel_epochs", "distributed_epoch"],
            help="how the tf.data workers share an epoch (default %(default)s)",
        )
        p.set_defaults(func=cmd_train)
