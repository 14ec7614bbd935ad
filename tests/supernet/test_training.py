"""Supernet training on a few hundred real CIFAR-10 images: determinism, resume, schedules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from nas.errors import NasError
from nas.supernet.checkpoint import load_supernet
from nas.supernet.config import TrainConfig
from nas.supernet.data import load_image_dataset
from nas.supernet.train import (
    BUDGET_TICKS,
    SupernetTrainer,
    augment,
    elastic_dimensions,
    sample_subnets,
    subnet_loss,
    train_supernet,
)
from searchspaces import get_space
from searchspaces.ofa_mbv3 import N_BLOCKS, OFAMobileNetV3Space

SPACE = get_space("ofa-mbv3-w1.0-cifar10")


@pytest.fixture(scope="module")
def small_data(cifar_small: Path):
    return load_image_dataset(cifar_small, 32)


def config(**changes: object) -> TrainConfig:
    return TrainConfig(**{"epochs": 2, "batch_size": 50, "random_subnets": 1, "seed": 3, **changes})


def test_the_dataset_reads_every_class_and_split(small_data) -> None:
    assert len(small_data.classes) == 10
    assert small_data.train.images.shape == (200, 3, 32, 32) and small_data.train.images.dtype == torch.uint8
    assert small_data.test.labels.bincount().tolist() == [10] * 10


@pytest.mark.parametrize("content", [b"not a tar", b"truncated"])
def test_a_file_that_is_not_a_whole_tar_is_refused_in_one_line(content: bytes, data_dir: Path,
                                                               tmp_path: Path) -> None:
    if content == b"truncated":  # the first megabyte of the real CIFAR-10 archive
        with (data_dir / "images" / "cifar10_jpg.tar.gz").open("rb") as archive:
            content = archive.read(1 << 20)
    (tmp_path / "data.tar.gz").write_bytes(content)
    with pytest.raises(NasError, match="is neither a folder nor a readable tar"):
        load_image_dataset(tmp_path / "data.tar.gz", 32)


def test_a_resumed_run_ends_bit_for_bit_where_an_uninterrupted_one_does(small_data, tmp_path: Path) -> None:
    straight = SupernetTrainer(SPACE, small_data, config())
    train_supernet(straight, tmp_path / "straight.pt", test_limit=50)

    first = SupernetTrainer(SPACE, small_data, config())
    first.train_epoch()
    first.save(tmp_path / "half.pt")
    resumed = SupernetTrainer(SPACE, small_data, config())
    resumed.resume(tmp_path / "half.pt")
    assert resumed.epoch == 1
    train_supernet(resumed, tmp_path / "resumed.pt", test_limit=50)

    expected, actual = straight.net.state_dict(), resumed.net.state_dict()
    assert all(torch.equal(expected[key], actual[key]) for key in expected)
    assert not torch.equal(expected["classifier.linear.weight"],
                           SupernetTrainer(SPACE, small_data, config()).net.state_dict()["classifier.linear.weight"])


def test_resuming_with_other_settings_is_refused(small_data, tmp_path: Path) -> None:
    trainer = SupernetTrainer(SPACE, small_data, config(epochs=1))
    trainer.save(tmp_path / "run.pt")
    with pytest.raises(NasError, match=r"other settings \(epochs, lr\)"):
        SupernetTrainer(SPACE, small_data, config(epochs=3, lr=0.2)).resume(tmp_path / "run.pt")


def test_resuming_on_other_data_or_another_space_is_refused(small_data, cifar_small: Path, tmp_path: Path) -> None:
    SupernetTrainer(SPACE, small_data, config(epochs=1)).save(tmp_path / "run.pt")
    fewer = load_image_dataset(cifar_small, 32, max_per_class=10)  # as --max-per-class 10
    with pytest.raises(NasError, match=r"another space or dataset \(it records another mean, std\)"):
        SupernetTrainer(SPACE, fewer, config(epochs=1)).resume(tmp_path / "run.pt")
    # refused by name, before the weights' shapes fail to load
    wider = OFAMobileNetV3Space("ofa-mbv3-w1.2-cifar10", 1.2, SPACE.resolutions, SPACE.stage_strides, n_classes=10)
    with pytest.raises(NasError, match=r"another space or dataset \(it records another space\)"):
        SupernetTrainer(wider, small_data, config(epochs=1)).resume(tmp_path / "run.pt")


def test_resuming_a_checkpoint_that_predates_a_setting_names_it(small_data, tmp_path: Path) -> None:
    SupernetTrainer(SPACE, small_data, config(epochs=1)).save(tmp_path / "run.pt")
    payload = torch.load(tmp_path / "run.pt", weights_only=True)
    del payload["training"]["config"]["label_weight"]  # as a run saved before the setting existed
    torch.save(payload, tmp_path / "run.pt")
    with pytest.raises(NasError, match=r"other settings \(label_weight\)"):
        SupernetTrainer(SPACE, small_data, config(epochs=1)).resume(tmp_path / "run.pt")


def test_resuming_a_checkpoint_without_the_training_time_is_refused(small_data, tmp_path: Path) -> None:
    SupernetTrainer(SPACE, small_data, config(epochs=1)).save(tmp_path / "run.pt")
    payload = torch.load(tmp_path / "run.pt", weights_only=True)
    del payload["training"]["seconds"]  # as a run saved before runs could be budgeted in minutes
    torch.save(payload, tmp_path / "run.pt")
    with pytest.raises(NasError, match="written by an earlier version of nas"):
        SupernetTrainer(SPACE, small_data, config(epochs=1)).resume(tmp_path / "run.pt")


def test_a_checkpoint_that_records_n_classes_still_resumes(small_data, tmp_path: Path) -> None:
    SupernetTrainer(SPACE, small_data, config(epochs=1)).save(tmp_path / "run.pt")
    payload = torch.load(tmp_path / "run.pt", weights_only=True)
    payload["nas"]["n_classes"] = 10  # as checkpoints recorded it before 2026-12-07
    torch.save(payload, tmp_path / "run.pt")
    resumed = SupernetTrainer(SPACE, small_data, config(epochs=1))
    resumed.resume(tmp_path / "run.pt")
    assert resumed.epoch == 0 and "n_classes" not in resumed.metadata()


def test_a_run_lasts_a_number_of_epochs_or_of_minutes() -> None:
    for length in ({"epochs": None}, {"epochs": 2, "minutes": 1.0}):
        with pytest.raises(NasError, match="epochs or as minutes"):
            config(**length)
    with pytest.raises(NasError, match="must be positive"):
        config(epochs=None, minutes=0.0)


@pytest.mark.parametrize("setting", ["batch_size", "random_subnets", "label_weight", "weight_decay", "student_split"])
def test_a_negative_setting_is_refused_from_python_too(setting: str) -> None:
    with pytest.raises(NasError, match=setting.replace("_", " ")):
        config(**{setting: -1})


def test_every_batch_holds_two_images_or_more(small_data) -> None:
    """Batch norm cannot normalize one image on the 1x1 maps of the last stages."""
    with pytest.raises(NasError, match="batch size must be at least 2"):
        config(batch_size=1)
    almost_all = SupernetTrainer(SPACE, small_data, config(batch_size=199))
    almost_all.train_epoch()  # one step: the image left over would have made a batch of one
    assert almost_all.steps_per_epoch == 1
    with pytest.raises(NasError, match="200 training images do not make one batch of 256"):
        SupernetTrainer(SPACE, small_data, config(batch_size=256))
    with pytest.raises(NasError, match="a batch of 4 gives 3 workers fewer than 2 images each"):
        SupernetTrainer(SPACE, small_data, config(batch_size=4), rank=0, world_size=3)


def test_a_student_split_that_leaves_a_part_of_one_image_or_an_untrained_part_is_refused(small_data) -> None:
    with pytest.raises(NasError, match="student split must be at least 1"):
        config(student_split=0)
    with pytest.raises(NasError, match="a batch of 50 in 26 parts leaves parts of fewer than 2 images"):
        config(student_split=26, random_subnets=30)
    with pytest.raises(NasError, match="a student split of 3 leaves parts of the batch to no subnet"):
        config(student_split=3, random_subnets=1)
    # 2 workers share a batch of 51 as 26 and 25 images; 25 in 13 parts leaves a part of one
    with pytest.raises(NasError, match="a batch of 51 shared by 2 workers in 13 parts leaves parts of fewer"):
        SupernetTrainer(SPACE, small_data, config(batch_size=51, student_split=13, random_subnets=12),
                        rank=0, world_size=2)
    SupernetTrainer(SPACE, small_data, config(student_split=12, random_subnets=11), rank=0, world_size=2)


def test_every_subnet_trains_at_its_own_resolution(small_data) -> None:
    assert SPACE.resolutions == (24, 28, 32)
    trainer = SupernetTrainer(SPACE, small_data, config())
    seen: list[int] = []
    trainer.net.register_forward_pre_hook(lambda module, inputs: seen.append(inputs[0].shape[-1]))
    smallest = np.zeros_like(SPACE.gene_sizes)
    middle = smallest.copy()
    middle[-1] = 1
    trainer.train_step(trainer.normalize(small_data.train.images[:8]), small_data.train.labels[:8], [smallest, middle])
    assert seen == [32, 24, 28]  # the largest subnet, then the others on the same images resized


def test_with_a_student_split_the_smaller_subnets_take_the_parts_of_the_batch_in_turn(small_data) -> None:
    trainer = SupernetTrainer(SPACE, small_data, config(student_split=2, random_subnets=2))
    seen: list[torch.Tensor] = []
    outputs: list[torch.Tensor] = []
    trainer.net.register_forward_pre_hook(lambda module, inputs: seen.append(inputs[0]))
    trainer.net.register_forward_hook(lambda module, inputs, output: outputs.append(output.detach()))
    losses: list[tuple[torch.Tensor, torch.Tensor]] = []

    def recording_loss(logits, teacher, labels, *settings):
        losses.append((teacher, labels))
        return subnet_loss(logits, teacher, labels, *settings)

    batch = trainer.normalize(small_data.train.images[:9]).contiguous(memory_format=trainer.memory_format)
    labels = small_data.train.labels[:9]
    subnets = sample_subnets(SPACE, np.random.default_rng(0), 2, (True, True, True))  # smallest and 2 random
    for genes in subnets:
        genes[-1] = SPACE.gene_sizes[-1] - 1  # at 32 px each subnet sees its part of the batch as it is
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("nas.supernet.train.subnet_loss", recording_loss)
        trainer.train_step(batch, labels, subnets)
    parts = [slice(0, 5), slice(5, 9), slice(0, 5)]  # the smallest, then each random subnet, wrapping around
    assert [len(images) for images in seen] == [9, 5, 4, 5]
    assert all(torch.equal(images, batch[part]) for images, part in zip(seen[1:], parts))
    assert seen[1].is_contiguous(memory_format=trainer.memory_format)
    teacher = outputs[0].float().softmax(1)  # the largest subnet's predictions of the whole batch
    for (part_teacher, part_labels), part in zip(losses, parts, strict=True):
        assert torch.equal(part_teacher, teacher[part]) and torch.equal(part_labels, labels[part])


def test_a_checkpoint_path_that_is_a_directory_is_refused_before_training(small_data, tmp_path: Path) -> None:
    trainer = SupernetTrainer(SPACE, small_data, config())
    with pytest.raises(NasError, match="is a directory"):
        train_supernet(trainer, tmp_path)
    assert trainer.epoch == 0


class StepClock:
    """A clock that moves only when the trainer takes a step: 7 seconds a step."""

    def __init__(self, trainer: SupernetTrainer, start: float = 0.0) -> None:
        self.now, self.lrs = start, []
        step = trainer.train_step

        def timed_step(*args):  # type: ignore[no-untyped-def]
            self.lrs.append(trainer.optimizer.param_groups[0]["lr"])
            self.now += 7.0
            return step(*args)

        trainer.train_step = timed_step  # type: ignore[method-assign]
        trainer.clock = lambda: self.now


def budgeted(small_data, start: float = 0.0) -> tuple[SupernetTrainer, StepClock]:
    trainer = SupernetTrainer(SPACE, small_data, config(epochs=None, minutes=1.0))
    return trainer, StepClock(trainer, start)


def test_a_budgeted_run_follows_the_one_cycle_schedule_by_the_clock_and_stops_on_time(
        small_data, tmp_path: Path) -> None:
    trainer, clock = budgeted(small_data)
    reports: list = []
    train_supernet(trainer, tmp_path / "net.pt", on_epoch=reports.append, test_limit=10)
    # 4 steps an epoch, 7 s a step: the 60 s are up after the 9th step, one step into the third epoch
    assert len(clock.lrs) == 9 and [r.epoch for r in reports] == [1, 2, 3]
    assert trainer.finished and trainer.progress == pytest.approx(63 / 60)
    # the learning rate of each step is torch's one-cycle schedule at the time it started
    peak = 0.1 * 50 / 128
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=peak, momentum=0.9)
    reference = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=peak, total_steps=BUDGET_TICKS, pct_start=0.15)
    schedule = [peak / 25]
    for _ in range(BUDGET_TICKS):
        optimizer.step()
        reference.step()
        schedule.append(optimizer.param_groups[0]["lr"])
    expected = [schedule[int(7 * step / 60 * BUDGET_TICKS)] for step in range(9)]
    assert clock.lrs == pytest.approx(expected, rel=1e-9)
    assert max(clock.lrs) > 0.5 * peak and trainer.optimizer.param_groups[0]["lr"] == pytest.approx(schedule[-1])
    saved = load_supernet(tmp_path / "net.pt")[1].training
    assert saved["seconds"] == 63 and saved["config"]["minutes"] == 1.0 and saved["epoch"] == 3


def test_a_budget_that_the_per_epoch_test_used_up_starts_no_further_epoch(small_data, tmp_path: Path) -> None:
    trainer, clock = budgeted(small_data)
    evaluate = trainer.evaluate

    def slow_evaluate(*args):  # type: ignore[no-untyped-def]
        clock.now += 20.0  # the first epoch's 4 steps take 28 s, its test of two subnets 40 s more
        return evaluate(*args)

    trainer.evaluate = slow_evaluate  # type: ignore[method-assign]
    train_supernet(trainer, tmp_path / "net.pt", test_limit=10)
    assert trainer.epoch == 1 and len(clock.lrs) == 4
    resumed, _ = budgeted(small_data)
    resumed.resume(tmp_path / "net.pt")
    assert resumed.finished  # the checkpoint knows the run is over


def test_a_resumed_budgeted_run_has_the_minutes_it_had_left(small_data, tmp_path: Path) -> None:
    straight, _ = budgeted(small_data)
    train_supernet(straight, tmp_path / "straight.pt", test_limit=10)

    first, _ = budgeted(small_data)
    first.train_epoch()
    first.save(tmp_path / "half.pt")
    resumed, clock = budgeted(small_data, start=1000.0)  # another process: only time spent training counts
    resumed.resume(tmp_path / "half.pt")
    assert resumed.seconds() == 28 and resumed.epoch_label(1) == "epoch 1 (0.5 of 1 min)"
    train_supernet(resumed, tmp_path / "resumed.pt", test_limit=10)
    assert len(clock.lrs) == 5 and resumed.epoch == 3

    expected, actual = straight.net.state_dict(), resumed.net.state_dict()
    assert all(torch.equal(expected[key], actual[key]) for key in expected)


def test_the_label_weight_adds_label_cross_entropy_to_the_distillation_loss() -> None:
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(8, 10, generator=generator)
    teacher = torch.randn(8, 10, generator=generator).softmax(1)
    labels = torch.randint(0, 10, (8,), generator=generator)
    distillation = torch.nn.functional.cross_entropy(logits, teacher)  # torch's soft-target cross-entropy
    with_labels = torch.nn.functional.cross_entropy(logits, labels, label_smoothing=0.1)
    assert torch.allclose(subnet_loss(logits, teacher, labels, 0.0, 0.1), distillation)
    assert torch.allclose(subnet_loss(logits, teacher, labels, 0.5, 0.1), distillation + 0.5 * with_labels)


def test_a_step_with_label_weight_trains_the_subnets_on_the_labels_too(small_data) -> None:
    images, labels = small_data.train.images[:50], small_data.train.labels[:50]
    smallest = [np.zeros_like(SPACE.gene_sizes)]
    weights = []
    for label_weight in (0.0, 0.0, 1.0):
        trainer = SupernetTrainer(SPACE, small_data, config(label_weight=label_weight))
        batch = trainer.normalize(images).contiguous(memory_format=trainer.memory_format)
        trainer.train_step(batch, labels, smallest)
        weights.append(trainer.net.state_dict()["blocks.1.mobile_inverted_conv.point_linear.conv.conv.weight"])
    assert torch.equal(weights[0], weights[1]) and not torch.equal(weights[0], weights[2])


def test_a_checkpoint_of_another_stride_layout_is_refused(small_data, tmp_path: Path) -> None:
    other = OFAMobileNetV3Space(SPACE.name, SPACE.width_mult, SPACE.resolutions, (2, 2, 2, 1, 1), SPACE.n_classes)
    SupernetTrainer(other, small_data, config(epochs=1)).save(tmp_path / "old.pt")
    layout = r"stage strides \(2, 2, 2, 1, 1\)"
    with pytest.raises(NasError, match=layout):
        load_supernet(tmp_path / "old.pt")
    with pytest.raises(NasError, match=layout):
        SupernetTrainer(SPACE, small_data, config(epochs=1)).resume(tmp_path / "old.pt")
    SupernetTrainer(SPACE, small_data, config(epochs=1)).save(tmp_path / "same.pt")
    assert load_supernet(tmp_path / "same.pt")[1].meta["stage_strides"] == list(SPACE.stage_strides)


def test_training_lowers_the_loss_on_the_training_images(small_data) -> None:
    # lr 0.2 swung between 0.006 and 0.03 of decrease across seeds and CPUs; 0.05 gives 0.04-0.05
    trainer = SupernetTrainer(SPACE, small_data, config(epochs=4, lr=0.05))
    before = _largest_loss(trainer)
    for _ in range(4):
        trainer.train_epoch()
    assert _largest_loss(trainer) < before - 0.02  # with no learning the two would be equal


def _largest_loss(trainer: SupernetTrainer) -> float:
    """Cross-entropy of the largest subnet on the un-augmented training images (batch statistics)."""
    train = trainer.data.train
    trainer.net.train().set_active(SPACE.gene_sizes - 1)
    torch.manual_seed(0)  # dropout
    with torch.no_grad():
        logits = trainer.net(trainer.normalize(train.images).contiguous(memory_format=trainer.memory_format))
    return torch.nn.functional.cross_entropy(logits, train.labels).item()


def test_progressive_shrinking_unfreezes_kernel_then_depth_then_expand() -> None:
    assert [elastic_dimensions("progressive", epoch / 8) for epoch in range(0, 8, 2)] == [
        (False, False, False), (True, False, False), (True, True, False), (True, True, True)]
    assert elastic_dimensions("progressive", 0.249) == (False, False, False)
    assert elastic_dimensions("progressive", 1.0) == (True, True, True)
    assert elastic_dimensions("sandwich", 0.0) == (True, True, True)
    largest = SPACE.gene_sizes - 1
    rng = np.random.default_rng(0)
    assert sample_subnets(SPACE, rng, 2, (False, False, False)) == []
    kernel_phase = sample_subnets(SPACE, rng, 5, (True, False, False))
    for genes in kernel_phase:
        assert (genes[N_BLOCKS:-1] == largest[N_BLOCKS:-1]).all()  # expand and depth at their largest
    assert len({genes[-1] for genes in kernel_phase}) > 1  # resolution is elastic in every phase, as in OFA
    smallest, *random = sample_subnets(SPACE, rng, 5, (True, True, True))
    assert (smallest == 0).all() and len(random) == 5


def test_augmentation_is_a_crop_of_the_padded_image_possibly_mirrored() -> None:
    images = torch.randint(1, 256, (16, 3, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    out = augment(images, torch.Generator().manual_seed(0), pad=2)
    assert out.shape == images.shape and out.dtype == images.dtype
    padded = torch.nn.functional.pad(images, (2, 2, 2, 2))
    crops = [padded[:, :, y:y + 8, x:x + 8] for y in range(5) for x in range(5)]
    candidates = torch.stack(crops + [crop.flip(-1) for crop in crops], 1)  # (16, 50, 3, 8, 8)
    assert (candidates == out[:, None]).flatten(2).all(-1).any(1).all()
    assert not torch.equal(out, images)  # something moved


def test_a_fresh_supernet_s_extra_blocks_start_as_the_identity(small_data) -> None:
    # BigNAS's zero-initialized residual outputs: before training, depth changes nothing
    trainer = SupernetTrainer(SPACE, small_data, config())
    images = trainer.normalize(small_data.test.images[:50]).contiguous(memory_format=trainer.memory_format)
    deepest, shallowest = SPACE.gene_sizes - 1, (SPACE.gene_sizes - 1).copy()
    shallowest[2 * N_BLOCKS:-1] = 0
    net = trainer.net.train()  # batch statistics keep every layer's activations at unit scale
    net.classifier.eval()  # no dropout

    def logits(genes: np.ndarray) -> torch.Tensor:
        net.set_active(genes)
        with torch.no_grad():
            return net(images)

    deep = logits(deepest)
    assert deep.std(0).mean() > 1e-3  # the logits depend on the image
    torch.testing.assert_close(logits(shallowest), deep)
    # the check can fail: a third block of the first stage (in the deepest subnet only) that does something
    net.blocks[1 + 2].mobile_inverted_conv.point_linear.bn.bn.weight.data.fill_(1.0)
    assert not torch.allclose(logits(deepest), logits(shallowest))


def test_sorting_channels_mid_run_changes_nothing_for_the_largest_subnet(small_data) -> None:
    # the optimizer's momentum must follow the permuted weights, or the next step would differ
    # (a high learning rate, so that three steps of momentum weigh on the fourth)
    sorted_run, plain_run = (SupernetTrainer(SPACE, small_data, config(lr=1.0)) for _ in range(2))
    images = sorted_run.normalize(small_data.train.images[:50]).contiguous(memory_format=sorted_run.memory_format)
    labels = small_data.train.labels[:50]
    for step in range(4):
        for trainer in (sorted_run, plain_run):
            torch.manual_seed(step)  # dropout
            trainer.train_step(images, labels, [])
        if step == 2:
            sorted_run.sort_channels()
    test = sorted_run.normalize(small_data.test.images[:50]).contiguous(memory_format=sorted_run.memory_format)
    with torch.no_grad():
        logits = [trainer.net.eval()(test) for trainer in (sorted_run, plain_run)]
    torch.testing.assert_close(logits[0], logits[1], atol=1e-5, rtol=1e-5)  # 2e-3 apart if momentum stayed


def test_progressive_shrinking_sorts_channels_once_when_expand_becomes_elastic(small_data, tmp_path: Path) -> None:
    trainer = SupernetTrainer(SPACE, small_data, config(epochs=4, schedule="progressive"))
    sorted_at: list[int] = []
    sort = trainer.sort_channels
    trainer.sort_channels = lambda: (sorted_at.append(trainer.epoch), sort())[1]  # type: ignore[method-assign]
    train_supernet(trainer, tmp_path / "net.pt", test_limit=10)
    assert sorted_at == [3]  # epochs 0-2 keep the expand ratio at its largest
