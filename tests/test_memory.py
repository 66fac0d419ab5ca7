"""Recurrent memory models on tiny random backbones (CPU, fast)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from babilong.memory.armt import ARMT, AssociativeMemory, dpfp  # noqa: E402
from babilong.memory.backbone import tiny_backbone  # noqa: E402
from babilong.memory.checkpoint import build_model, model_from_checkpoint, read_checkpoint, save_checkpoint  # noqa: E402
from babilong.memory.recurrence import MemoryConfig  # noqa: E402
from babilong.memory.rmt import RMT  # noqa: E402
from babilong.memory.rmt_r import RMTR  # noqa: E402

VOCAB = 64
KINDS = ["tiny", "tiny-llama"]
ARCHS = ["rmt", "rmt-r", "armt"]


def make(arch: str = "rmt", kind: str = "tiny", **config: object):
    torch.manual_seed(1)
    settings = {"memory_tokens": 4, "segment_size": 6, **config}
    return build_model(tiny_backbone(kind, vocab_size=VOCAB), MemoryConfig(arch=arch, **settings))


@pytest.mark.parametrize("kind", KINDS)
def test_rmt_one_segment_logits_equal_backbone_with_memory_prefix(kind: str) -> None:
    model = make("rmt", kind).eval()
    segments = [[1, 2, 3, 4, 5], [7, 8]]  # different lengths: padding must not leak
    with torch.no_grad():
        hidden, packed = model.final(model.initial_state(2), segments)
        for row, segment in enumerate(segments):
            embeds = torch.cat([model.memory, model.embed(torch.tensor(segment))]).unsqueeze(0)
            expected = model.backbone(inputs_embeds=embeds).logits[0, 4:]
            start = packed.token_start
            got = model.backbone.get_output_embeddings()(hidden[row, start : start + len(segment)])
            torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def _segment_grads(arch: str, depth: int | None) -> tuple[list[float], torch.Tensor | None]:
    """Gradient norm reaching each segment's token embeddings, and the memory's gradient."""
    model = make(arch, bptt_depth=depth)
    if isinstance(model, ARMT):  # W_v starts at zero, which blocks every path through A
        for layer in model.associative:
            torch.nn.init.normal_(layer.value.weight, std=0.1)
    seen: list[torch.Tensor] = []

    def keep(module, args, output):
        output.retain_grad()
        seen.append(output)

    model.embed.register_forward_hook(keep)
    contexts = [[[10, 11, 12], [20, 21, 22], [23], [30, 31, 32]]]
    model.loss(contexts, [[40, 41]], [[50, 51]]).backward()
    return [float(t.grad.norm()) for t in seen[:4]], model.memory.grad


@pytest.mark.parametrize("arch", ARCHS)
def test_full_bptt_reaches_memory_and_first_segment(arch: str) -> None:
    grads, memory_grad = _segment_grads(arch, None)
    assert all(g > 0 for g in grads)
    assert memory_grad is not None and memory_grad.norm() > 0


@pytest.mark.parametrize("arch", ARCHS)
def test_truncated_bptt_stops_where_told(arch: str) -> None:
    grads, memory_grad = _segment_grads(arch, 2)  # only the last two context segments
    assert grads[0] == 0 and grads[1] == 0
    assert grads[2] > 0 and grads[3] > 0
    if arch != "armt":  # ARMT's memory tokens are also written by the last segments
        assert memory_grad is None or memory_grad.norm() == 0


@pytest.mark.parametrize("arch", ARCHS)
def test_rows_in_a_batch_match_rows_alone(arch: str) -> None:
    model = make(arch).eval()
    contexts = [[[1, 2, 3], [4, 5, 6], [7]], [[8, 9]], []]
    with torch.no_grad():
        together = model.read_context(contexts)
        for row, context in enumerate(contexts):
            alone = model.read_context([context])
            for name in ("memory", "matrix", "norm"):
                if name in alone:
                    torch.testing.assert_close(together[name][row : row + 1], alone[name], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("arch", ARCHS)
def test_generate_with_cache_equals_plain_greedy(arch: str, kind: str) -> None:
    model = make(arch, kind).eval()
    contexts, prompts = [[[1, 2, 3], [4]], [[5]]], [[9, 10, 11], [12]]
    with torch.no_grad():
        state = model.read_context(contexts)
        fast = model.generate(state, prompts, 4, stop_ids=set())
        for row, prompt in enumerate(prompts):
            ids = list(prompt)
            for _ in range(4):
                row_state = {k: v[row : row + 1] for k, v in state.items()}
                hidden, packed = model.final(row_state, [ids])
                logits = model.backbone.get_output_embeddings()(hidden[0, packed.token_start + len(ids) - 1])
                ids.append(int(logits.argmax()))
            assert fast[row] == ids[len(prompt) :]


def test_dpfp_matches_its_definition() -> None:
    x = torch.randn(2, 5)
    r = torch.cat([x.clamp(min=0), (-x).clamp(min=0)], dim=-1)
    n = r.shape[-1]
    expected = torch.tensor([[r[b, j] * r[b, (j + i) % n] for i in (1, 2, 3) for j in range(n)] for b in range(2)])
    torch.testing.assert_close(dpfp(x), expected)


def test_armt_write_and_read_follow_the_equations() -> None:
    torch.manual_seed(0)
    width, dim, tokens = 8, 4, 3
    memory = AssociativeMemory(width, dim)
    torch.nn.init.normal_(memory.value.weight)
    features = 6 * dim
    matrix, norm = torch.randn(1, width, features), torch.rand(1, features)
    m = torch.randn(1, tokens, width)
    new_matrix, new_norm = memory.write(m, matrix, norm)

    def unit(x: torch.Tensor) -> torch.Tensor:
        return x / x.norm()

    expected_matrix, expected_norm = matrix[0].clone(), norm[0].clone()
    for j in range(tokens):  # token by token: each write sees the ones before it
        k = unit(dpfp(memory.key.weight @ m[0, j]))
        v = memory.value.weight @ m[0, j]
        beta = torch.sigmoid(memory.beta.weight @ m[0, j] + memory.beta.bias)
        v_old = expected_matrix @ k / (expected_norm @ k + 1e-5)
        gamma = torch.clamp(1 - (expected_norm @ k) / (k @ k + 1e-5), 0, 1)
        expected_matrix = expected_matrix + beta * torch.outer(v - v_old, k)
        expected_norm = expected_norm + gamma * k
    torch.testing.assert_close(new_matrix[0], expected_matrix, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(new_norm[0], expected_norm, atol=1e-4, rtol=1e-4)

    x = torch.randn(1, 2, width)
    q = dpfp(x[0] @ memory.query.weight.T)
    q = q / q.norm(dim=-1, keepdim=True)
    expected_read = (q @ new_matrix[0].T) / (q @ new_norm[0] + 1e-5).unsqueeze(-1)
    torch.testing.assert_close(memory.read(x, new_matrix, new_norm)[0], expected_read, atol=1e-4, rtol=1e-4)


def _key_value_memory(half: int) -> AssociativeMemory:
    """Width 2*half: the first half of a memory token is its key, the second its value; beta ~ 1."""
    memory = AssociativeMemory(2 * half, half)
    with torch.no_grad():
        memory.key.weight.copy_(torch.cat([torch.eye(half), torch.zeros(half, half)], 1))
        memory.query.weight.copy_(memory.key.weight)
        memory.value.weight.copy_(torch.block_diag(torch.zeros(half, half), torch.eye(half)))
        memory.beta.weight.zero_()
        memory.beta.bias.fill_(30.0)
    return memory


def test_writing_the_same_key_twice_does_not_double_what_it_recalls() -> None:
    half = 4
    memory = _key_value_memory(half)
    key = torch.tensor([1.0, -0.5, 0.25, 2.0])
    old, new = torch.tensor([1.0, 2.0, -1.0, 0.5]), torch.tensor([-3.0, 0.5, 2.0, 1.0])

    def token(value: torch.Tensor) -> torch.Tensor:
        return torch.cat([key, value]).view(1, 1, -1)

    matrix, norm = torch.zeros(1, 2 * half, 6 * half), torch.zeros(1, 6 * half)
    matrix, norm = memory.write(token(old), matrix, norm)
    query = torch.cat([key, torch.zeros(half)]).view(1, 1, -1)
    torch.testing.assert_close(memory.read(query, matrix, norm)[0, 0, half:], old, atol=1e-3, rtol=1e-3)
    # the next segment's two memory tokens both write the new value under the same key
    twice = torch.cat([token(new), token(new)], 1)
    matrix, norm = memory.write(twice, matrix, norm)
    recalled = memory.read(query, matrix, norm)[0, 0]
    torch.testing.assert_close(recalled[half:], new, atol=1e-3, rtol=1e-3)  # not 2 * new - old
    torch.testing.assert_close(recalled[:half], torch.zeros(half), atol=1e-3, rtol=1e-3)


def test_armt_state_with_bf16_weights_stays_near_the_fp32_reference() -> None:
    """After 100 segments the bf16-weights run's A is within 6% of the fp32 run's (relative
    Frobenius distance; bf16 weights alone give 1.5% after one segment) and z within 3%; the
    state itself stays fp32. Before the fix (bf16 state, unnormalised keys, all memory tokens
    writing at once) the fp32 run's A grew to 1e12 here and the distance was 100%."""
    reference = make("armt").eval()
    for layer in reference.associative:
        torch.nn.init.normal_(layer.value.weight, std=0.3)  # writes that matter, as after training
    halved = make("armt").eval()
    halved.load_state_dict(reference.state_dict())
    halved.to(torch.bfloat16)
    generator = torch.Generator().manual_seed(3)
    segments = [torch.randint(0, VOCAB, (6,), generator=generator).tolist() for _ in range(100)]
    with torch.no_grad():
        exact, rounded = reference.read_context([segments]), halved.read_context([segments])
    assert rounded["matrix"].dtype == torch.float32 and rounded["norm"].dtype == torch.float32
    for name, tolerance in (("matrix", 0.06), ("norm", 0.03)):
        distance = (rounded[name].float() - exact[name]).norm() / exact[name].norm()
        assert distance < tolerance, f"{name}: {float(distance):.3f}"


def test_armt_starts_as_its_backbone_and_its_state_then_changes_outputs() -> None:
    model = make("armt").eval()
    assert isinstance(model, ARMT)
    tokens = [1, 2, 3]
    with torch.no_grad():
        hidden, _ = model.final(model.initial_state(1), [tokens])
        plain = model.base(inputs_embeds=model.embed(torch.tensor([tokens]))).last_hidden_state
        torch.testing.assert_close(hidden, plain)
        for layer in model.associative:
            torch.nn.init.normal_(layer.value.weight, std=0.5)
        state = model.read_context([[[4, 5, 6], [7, 8]]])
        assert state["matrix"].abs().sum() > 0 and state["norm"].abs().sum() > 0
        remembered, _ = model.final(state, [tokens])
        assert not torch.allclose(remembered, plain)


def test_rmt_r_attends_over_exactly_the_past_memories() -> None:
    model = make("rmt-r").eval()
    assert isinstance(model, RMTR)
    with torch.no_grad():
        state = model.read_context([[[1, 2], [3, 4], [5]], [[6]]])
        assert state["past"].shape[0] == 2 and state["past"].shape[1] >= 3
        assert state["past_mask"][:, :3].tolist() == [[1, 1, 1], [1, 0, 0]] and state["past_mask"][:, 3:].sum() == 0
        # The past of row 0 is the memory entering each of its segments, in order.
        entering = model.initial_state(1)
        for k, segment in enumerate([[1, 2], [3, 4], [5]]):
            torch.testing.assert_close(state["past"][0, k], entering["memory"][0])
            entering = model.step(entering, [segment])
        retrieved = model.retrieve(state)
        masked = dict(state, past=state["past"].clone())
        masked["past"][1, 1:] = 5.0  # entries row 1 never had, and unused room: must be ignored
        torch.testing.assert_close(model.retrieve(masked), retrieved)
        real = dict(state, past=state["past"].clone())
        real["past"][1, 0] += 1.0
        assert not torch.allclose(model.retrieve(real)[1], retrieved[1])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("arch", ARCHS)
def test_save_load_gives_identical_outputs(arch: str, kind: str, tmp_path) -> None:
    model = make(arch, kind).eval()
    for parameter in model.parameters():  # move away from the deterministic init
        parameter.data.add_(0.01 * torch.randn_like(parameter))
    save_checkpoint(model, tmp_path / "m.pt", tokenizer="gpt2")
    loaded = model_from_checkpoint(read_checkpoint(tmp_path / "m.pt"))
    assert loaded.config == model.config and type(loaded) is type(model)
    contexts, prompts, answers = [[[1, 2, 3], [4]], [[5]]], [[9, 10], [11]], [[12], [13, 14]]
    with torch.no_grad():
        assert torch.equal(model.loss(contexts, prompts, answers), loaded.loss(contexts, prompts, answers))
        assert model.generate(model.read_context(contexts), prompts, 3, set()) == loaded.generate(
            loaded.read_context(contexts), prompts, 3, set()
        )


def test_stream_segments_equal_whole_text_tokenisation() -> None:
    from babilong.memory.inference import stream_segments, text_pieces
    from babilong.tokens import get_tokenizer

    tokenizer = get_tokenizer("gpt2")
    text = "Mary went to the kitchen.  It was a dark night;\n\nthe end. " * 300
    assert len(list(text_pieces(text, size=500))) > 10
    whole = tokenizer.encode(text)
    pieces = list(stream_segments(text, tokenizer, 64, piece_chars=500))
    assert all(len(p) == 64 for p in pieces[:-1])
    assert [t for p in pieces for t in p] == whole


def test_train_command_writes_a_checkpoint_that_answers_and_resumes(tmp_path, capsys) -> None:
    import json

    from babilong.cli import main
    from babilong.memory.inference import answer, load_checkpoint

    out = tmp_path / "run"
    common = ["train", "--backbone", "tiny", "--tasks", "qa1", "--segment", "48", "--memory", "4", "--max-steps", "2",
              "--eval-every", "2", "--val-samples", "2", "--batch-size", "2", "--output", str(out)]
    assert main([*common, "--curriculum", "1"]) == 0
    assert (out / "best.pt").exists() and (out / "stage-1-1seg" / "best.pt").exists()
    assert main([*common, "--curriculum", "1"]) == 2  # refuses to overwrite a run
    assert main([*common, "--curriculum", "1,2", "--resume"]) == 0  # continues with the next stage
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["segments"] for r in log if "segments" in r] == [1, 2]
    model, tokenizer = load_checkpoint(out, device="cpu")
    assert model.config.segment_size == 48 and model.config.memory_tokens == 4
    replies = answer(model, tokenizer, ["Mary went to the kitchen. " * 30, "John moved to the hallway."],
                     ["Where is Mary?", "Where is John?"], max_new_tokens=3)
    assert len(replies) == 2 and all(isinstance(r, str) for r in replies)


def test_trained_checkpoint_is_evaluated_by_the_harness(tmp_path) -> None:
    import json

    from babilong.cli import main

    out = tmp_path / "ckpt"
    assert main(["train", "--backbone", "tiny", "--tasks", "qa1", "--segment", "48", "--memory", "4", "--max-steps", "1",
                 "--eval-every", "1", "--val-samples", "2", "--batch-size", "2", "--curriculum", "1", "--output", str(out)]) == 0
    run = tmp_path / "run"
    code = main(["eval", "--model", "rmt", "--model-args", f"checkpoint={out},device=cpu,batch_size=2", "--tasks", "qa1",
                 "--lengths", "0k,1k", "--samples", "2", "--output", str(run), "--no-progress"])
    assert code == 0
    records = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]
    assert sorted(r["key"] for r in records) == ["qa1/0k/0", "qa1/0k/1", "qa1/1k/0", "qa1/1k/1"]
    assert all(r["status"] == "ok" and set(r["scores"]) == {"babilong", "reference"} for r in records)
    assert "read segment by segment" in records[0]["prompt"]
    assert main(["eval", "--model", "rmt", "--tasks", "qa1", "--output", str(tmp_path / "x")]) == 2  # no checkpoint


# ----- untrusted checkpoints --------------------------------------------------------------
class _PlantsMarker:
    """Unpickling this would create a file: a stand-in for a checkpoint that runs code."""

    def __init__(self, marker) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _plant_malicious(path, marker) -> None:
    from babilong.memory.checkpoint import FORMAT

    torch.save({"format": FORMAT, "config": {}, "backbone": {}, "tokenizer": "gpt2", "weights": _PlantsMarker(marker)}, path)


def test_a_checkpoint_that_would_run_code_is_refused_by_eval(tmp_path, capsys) -> None:
    from babilong.cli import main

    marker, checkpoint = tmp_path / "ran", tmp_path / "evil.pt"
    _plant_malicious(checkpoint, marker)
    code = main(["eval", "--model", "rmt", "--model-args", f"checkpoint={checkpoint},device=cpu", "--tasks", "qa1",
                 "--lengths", "0k", "--samples", "1", "--output", str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and not marker.exists()
    assert "refusing" in err and "could run code" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_a_planted_last_pt_is_refused_by_train_resume(tmp_path, capsys) -> None:
    from babilong.cli import main

    marker, out = tmp_path / "ran", tmp_path / "run"
    out.mkdir()
    _plant_malicious(out / "last.pt", marker)
    code = main(["train", "--backbone", "tiny", "--tasks", "qa1", "--segment", "48", "--memory", "4", "--max-steps", "1",
                 "--eval-every", "1", "--val-samples", "2", "--batch-size", "2", "--curriculum", "1",
                 "--output", str(out), "--resume"])
    err = capsys.readouterr().err
    assert code == 2 and not marker.exists() and "refusing" in err and "Traceback" not in err


def _bad_files(tmp_path) -> dict[str, object]:
    good = tmp_path / "good.pt"
    save_checkpoint(make(), good, tokenizer="gpt2")
    data = good.read_bytes()
    return {
        "empty": b"",
        "text": b"hello, not a checkpoint\n",
        "truncated": data[: len(data) // 2],
        "tensor": torch.ones(3),
        "other dict": {"weights": {}},
        "wrong weights": {**torch.load(good, weights_only=True), "weights": {"memory": torch.ones(2)}},
    }


def test_damaged_or_foreign_files_give_one_line_errors(tmp_path) -> None:
    from babilong.errors import BabilongError

    for name, content in _bad_files(tmp_path).items():
        path = tmp_path / f"{name.replace(' ', '-')}.pt"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            torch.save(content, path)
        with pytest.raises(BabilongError) as caught:
            model_from_checkpoint(read_checkpoint(path))
        message = str(caught.value)
        assert "\n" not in message and (str(path) in message or "write it again" in message), (name, message)


def test_an_armt_checkpoint_from_the_earlier_memory_rule_is_refused(tmp_path) -> None:
    from babilong.errors import BabilongError

    path = tmp_path / "armt.pt"
    save_checkpoint(make("armt"), path, "gpt2")
    model_from_checkpoint(read_checkpoint(path))  # today's rule loads
    payload = read_checkpoint(path)
    del payload["armt_rule"]
    with pytest.raises(BabilongError, match="earlier memory rule.*train it again") as caught:
        model_from_checkpoint(payload)
    assert "\n" not in str(caught.value)


def test_rmt_r_past_buffer_grows_by_doubling_and_keeps_every_entry() -> None:
    model = make("rmt-r", segment_size=2).eval()
    context = [[k, k + 1] for k in range(1, 40, 2)]  # 20 segments
    with torch.no_grad():
        state = model.read_context([context])
        assert state["past_mask"].sum() == 20 and state["past"].shape[1] in (32,)  # 8 -> 16 -> 32
        entering = model.initial_state(1)
        for k, segment in enumerate(context):
            torch.testing.assert_close(state["past"][0, k], entering["memory"][0])
            entering = model.step(entering, [segment])


@pytest.mark.parametrize("arch", ARCHS)
def test_segment_checkpointing_gives_the_plain_loss_and_gradients(arch: str) -> None:
    def loss_and_grads(checkpointed: bool) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        torch.manual_seed(1)
        backbone = tiny_backbone("tiny", vocab_size=VOCAB, resid_pdrop=0.1, attn_pdrop=0.1, embd_pdrop=0.1)
        model = build_model(backbone, MemoryConfig(arch=arch, memory_tokens=4, segment_size=6)).train()
        # Dropout is on: the recompute must replay the same masks.
        if isinstance(model, ARMT):
            for layer in model.associative:
                torch.nn.init.normal_(layer.value.weight, std=0.1)
        model.checkpoint_segments = checkpointed
        torch.manual_seed(3)
        loss = model.loss([[[1, 2, 3], [4, 5, 6], [7]], [[8, 9], [10]]], [[11, 12], [13]], [[14], [15, 16]])
        loss.backward()
        return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    plain_loss, plain = loss_and_grads(False)
    loss, grads = loss_and_grads(True)
    torch.testing.assert_close(loss, plain_loss)
    assert grads.keys() == plain.keys() and len(plain) > 10
    for name in plain:
        torch.testing.assert_close(grads[name], plain[name], atol=1e-6, rtol=1e-5, msg=name)


def test_armt_reads_nothing_outside_a_pass_even_after_an_error() -> None:
    model = make("armt").eval()
    for layer in model.associative:
        torch.nn.init.normal_(layer.value.weight, std=0.5)
    state = model.read_context([[[4, 5, 6], [7, 8]]])
    with pytest.raises(RuntimeError), torch.no_grad(), model.reading(state):
        raise RuntimeError("a failure mid-pass")
    embeds = model.embed(torch.tensor([[1, 2, 3]]))
    with torch.no_grad():
        plain = model.base(inputs_embeds=embeds).last_hidden_state
        with model.reading(state):
            remembered = model.base(inputs_embeds=embeds).last_hidden_state
        after = model.base(inputs_embeds=embeds).last_hidden_state
    assert not torch.allclose(remembered, plain)
    torch.testing.assert_close(after, plain)


def test_training_shows_a_progress_bar_per_stage(tmp_path, capsys) -> None:
    from babilong.cli import main

    assert main(["train", "--backbone", "tiny", "--tasks", "qa1", "--segment", "48", "--memory", "4", "--max-steps", "3",
                 "--eval-every", "3", "--val-samples", "2", "--batch-size", "2", "--curriculum", "1,2",
                 "--output", str(tmp_path / "run")]) == 0
    captured = capsys.readouterr()
    for stage in ("stage 1/2 (1 seg)", "stage 2/2 (2 seg)"):
        assert stage in captured.err
    assert "3/3" in captured.err and "loss=" in captured.err and "samples_s=" in captured.err
    assert '"val_accuracy"' in captured.out


def test_label_loss_is_cross_entropy_over_the_choices_only() -> None:
    model = make("rmt").eval()
    contexts, prompts = [[[1, 2, 3]], [[4, 5]]], [[9, 10], [11]]
    choices = [[20, 63], [21, 63], [22, 63]]  # three one-token labels, then the end marker
    answers = [[21, 63], [22, 63]]
    with torch.no_grad():
        loss = model.loss(contexts, prompts, answers, choices=choices)
        hidden, packed = model.final(model.read_context(contexts), [p + a for p, a in zip(prompts, answers)])
        head = model.backbone.get_output_embeddings()
        expected = []
        for row, (prompt, answer) in enumerate(zip(prompts, answers)):
            logits = head(hidden[row, packed.token_start + len(prompt) - 1])[[20, 21, 22]]
            expected.append(torch.nn.functional.cross_entropy(logits.unsqueeze(0), torch.tensor([answer[0] - 20])))
        torch.testing.assert_close(loss, torch.stack(expected).mean())
        # Several questions can share one read context.
        shared = model.loss([[[1, 2, 3]]], prompts, answers, owners=[0, 0], choices=choices)
        again = model.loss([[[1, 2, 3]], [[1, 2, 3]]], prompts, answers, choices=choices)
        torch.testing.assert_close(shared, again)


def test_an_answer_off_the_choices_is_refused_not_made_a_free_option() -> None:
    model = make("rmt").eval()
    with torch.no_grad(), pytest.raises(ValueError, match="not one of the choices"):
        model.loss([[[1, 2, 3]]], [[9, 10]], [[23, 63]], choices=[[20, 63], [21, 63], [22, 63]])


def test_training_answers_are_spelt_as_the_labels_they_compete_with() -> None:
    """qa5 answers "Bill" while its label is "bill": trained as " Bill", the answer was the only
    option of its spelling, so the loss fell to 0.13 while nothing was learned (validation 20%)."""
    from babilong.memory.prompt import answer_choices
    from babilong.memory.train import Rows, task_labels
    from babilong.tokens import get_tokenizer

    labels = task_labels(["qa5"])
    rows = Rows(("qa5",), 32, "gpt2", "gutenberg", 3, 8, labels, True)
    _, _, answers, _ = rows.batch(0, 0)
    choices = answer_choices(get_tokenizer("gpt2"), labels)
    assert all(answer in choices for answer in answers)
    assert any(get_tokenizer("gpt2").decode(answer).strip() in ("bill", "fred", "jeff", "mary") for answer in answers)


@pytest.mark.parametrize("arch", ARCHS)
def test_generation_with_choices_answers_one_of_them(arch: str) -> None:
    model = make(arch).eval()
    choices = [[20, 21, 63], [20, 22, 63], [30, 63]]
    with torch.no_grad():
        state = model.read_context([[[1, 2, 3]], [[4]], [[5, 6]]])
        outputs = model.generate(state, [[9], [10], [11]], 6, stop_ids={63}, choices=choices)
    assert all(out in choices for out in outputs)


def test_questions_about_everyone_agree_with_the_task_checker() -> None:
    from babilong.generate import generate_samples
    from babilong.memory.train import questions_about_everyone

    samples = generate_samples("qa1", "0k", 20, seed=5, split="train")
    total = 0
    for sample in samples:
        asked = questions_about_everyone(sample)
        assert asked[0] == (sample.question, sample.target)
        assert len({q for q, _ in asked}) == len(asked) <= 4
        for question, answer in asked[1:]:
            person = question.split()[-1].rstrip("?")
            moves = [fact for fact in sample.facts if fact.startswith(person + " ")]
            assert moves and moves[-1].rstrip(".").split()[-1] == answer  # their last move
        total += len(asked)
    assert total > 40  # most stories place several people


def test_questions_about_everyone_skip_what_the_checker_cannot_answer_in_every_task() -> None:
    """qa5 training stopped at "What did Bill give to Daniel?" (no such hand-over)."""
    from babilong.generate import generate_samples
    from babilong.memory.train import questions_about_everyone
    from babilong.tasks import get_task

    for task in ("qa2", "qa3", "qa4", "qa5"):
        for sample in generate_samples(task, "0k", 30, seed=1_000_000, split="train"):
            for question, answer in questions_about_everyone(sample):
                assert get_task(task).check(list(sample.facts), question) == answer


def test_the_default_recipe_trains_for_a_few_steps_on_facts_then_book_text(tmp_path, capsys) -> None:
    import json

    from babilong.cli import main
    from babilong.memory.inference import answer, load_checkpoint

    out = tmp_path / "run"
    assert main(["train", "--backbone", "tiny", "--tasks", "qa1", "--segment", "64", "--memory", "4", "--curriculum", "0,1",
                 "--max-steps", "4", "--eval-every", "2", "--val-samples", "4", "--batch-size", "4", "--no-progress",
                 "--output", str(out)]) == 0
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    stages = [r for r in log if "segments" in r]
    assert [r["segments"] for r in stages] == [0, 0, 1, 1] and (out / "stage-1-facts" / "best.pt").exists()
    assert all(1.0 < r["loss"] < 2.5 for r in stages)  # label loss: near ln 6 = 1.79 at the start, not ~11
    model, tokenizer = load_checkpoint(out, device="cpu")
    assert model.config.labels == ("bathroom", "bedroom", "garden", "hallway", "kitchen", "office")
    replies = answer(model, tokenizer, ["Mary went to the kitchen. John moved to the office."], ["Where is Mary?"])
    assert replies[0] in model.config.labels  # decoding keeps to the labels



def test_worker_processes_make_the_same_batches_in_the_same_order() -> None:
    from babilong.memory.train import Rows, _prefetched

    rows = Rows(("qa1",), 32, "gpt2", "gutenberg", 3, 2, (), False)
    made_here = [rows.batch(2, step) for step in range(5)]
    assert list(_prefetched(rows, 2, range(5), workers=2)) == made_here
    assert made_here[0] != made_here[1]


def run_benchmark(*args: str):
    """A script of benchmarks/ run as a user runs it (from that folder, the repository importable)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    return subprocess.run([sys.executable, *args], cwd=root / "benchmarks", capture_output=True, text=True,
                          timeout=600, env={**os.environ, "PYTHONPATH": str(root)}, check=False)


@pytest.mark.slow
def test_gpu_script_runs_at_smoke_size_on_the_cpu() -> None:
    done = run_benchmark("gpu_rmt.py", "--smoke")
    assert done.returncode == 0, done.stderr[-2000:]
    assert '"val_accuracy"' in done.stdout and "memory" in done.stdout and "reset" in done.stdout
    table = done.stdout.split("length  samples")[1].splitlines()[1:3]
    assert [line.split()[0] for line in table] == ["64", "256"]


@pytest.mark.slow
def test_the_long_recipe_trains_every_stage_scores_and_runs_the_harness(tmp_path) -> None:
    """The documented one command for length generalisation, at toy sizes: six stages, the
    held-out table at 1/4/16/32 segments, then ``babilong eval`` on the checkpoint."""
    toy = ["segment=32", "memory=4", "batch-size=4", "max-steps=1", "eval-every=1", "val-samples=2", "no-progress"]
    done = run_benchmark("memory_recipe.py", "--recipe", "long", "--output", str(tmp_path / "long"),
                         *(item for flag in toy for item in ("--set", flag)), "--samples", "2", "--harness", "1k")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "--curriculum 0,1,4,8,16,32" in done.stdout and "--budget-minutes 45" in done.stdout
    header, *rows = done.stdout.split("   length")[1].splitlines()[:5]
    assert header.split() == ["samples", "memory", "reset", "constant", "seconds"]
    assert [row.split()[0] for row in rows] == ["32", "128", "512", "1024"]
    assert all(0 < float(row.split()[4].rstrip("%")) <= 100 for row in rows)  # the most frequent answer's share
    results = (tmp_path / "long" / "harness" / "results.jsonl").read_text().splitlines()
    assert len(results) == 2 and all('"length": "1k"' in line for line in results)


def test_label_loss_refuses_a_task_whose_answers_are_lists(tmp_path, capsys) -> None:
    from babilong.cli import main

    code = main(["train", "--backbone", "tiny", "--tasks", "qa8", "--segment", "64", "--memory", "4", "--curriculum", "0",
                 "--max-steps", "3", "--eval-every", "3", "--val-samples", "2", "--batch-size", "8", "--no-progress",
                 "--output", str(tmp_path / "run")])
    assert code == 2 and "--answer-loss full" in capsys.readouterr().err


@pytest.mark.parametrize("budget", ["0", "-1", "nan"])
def test_a_budget_that_is_not_positive_is_refused(budget: str, tmp_path, capsys) -> None:
    from babilong.cli import main

    assert main(["train", "--budget-minutes", budget, "--output", str(tmp_path / "run")]) == 2
    assert "--budget-minutes" in capsys.readouterr().err and not (tmp_path / "run").exists()


@pytest.mark.parametrize("shares", ["1,1", "4,0,1", "a,b,c"])
def test_stage_shares_must_give_one_positive_number_per_stage(shares: str, tmp_path, capsys) -> None:
    from babilong.cli import main

    assert main(["train", "--curriculum", "0,1,2", "--stage-shares", shares, "--output", str(tmp_path / "run")]) == 2
    assert "--stage-shares" in capsys.readouterr().err and not (tmp_path / "run").exists()


def test_stage_shares_split_the_time_left(tmp_path) -> None:
    import argparse
    import time

    from babilong.memory.train import Progress, Trainer

    trainer = Trainer.__new__(Trainer)
    trainer.args = argparse.Namespace(stage_shares=[3.0, 1.0])
    trainer.progress, trainer.deadline = Progress(stage=0), time.time() + 400
    assert 295 < trainer._stage_deadline() - time.time() <= 300
    trainer.progress = Progress(stage=1)
    assert 395 < trainer._stage_deadline() - time.time() <= 400


def test_device_defaults_fill_only_what_was_not_given(capsys) -> None:
    import argparse

    from babilong.memory.train import add_arguments, apply_device_defaults

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--output", "x"])
    apply_device_defaults(args, "cpu")
    assert (args.segment, args.curriculum) == (128, "0,1,4")
    assert "CPU defaults --segment 128 --curriculum 0,1,4" in capsys.readouterr().out
    args = parser.parse_args(["--output", "x", "--segment", "64"])
    apply_device_defaults(args, "cuda")
    assert (args.segment, args.curriculum) == (64, "0,1,2,4,6,8,16,32")


def test_training_memory_estimate_grows_with_rows_segments_and_width() -> None:
    from babilong.memory.footprint import largest_batch, shape_of, training_bytes

    shape = shape_of(make("rmt"))
    one = training_bytes(shape, 8, 1, 128)
    assert training_bytes(shape, 16, 1, 128) > one and training_bytes(shape, 8, 4, 128) > one
    assert training_bytes(shape_of(make("rmt", kind="tiny-llama")), 8, 1, 128) != one
    assert training_bytes(shape, 8, 16, 128, checkpointing=True) < training_bytes(shape, 8, 16, 128)
    limit = training_bytes(shape, 40, 4, 128)
    assert largest_batch(shape, limit, 4, 128) == 40
    assert largest_batch(shape, training_bytes(shape, 1, 4, 128) - 1, 4, 128) == 0


def test_a_stage_over_the_memory_limit_lowers_a_default_batch_and_refuses_an_explicit_one(tmp_path, capsys) -> None:
    from babilong.cli import main
    from babilong.memory.backbone import load_backbone
    from babilong.memory.footprint import shape_of, training_bytes

    model = build_model(load_backbone("tiny")[0], MemoryConfig("rmt", 4, 32))
    limit = training_bytes(shape_of(model), 3, 2, 32) / 2**30  # 3 rows fit at 2 segments
    common = ["train", "--backbone", "tiny", "--tasks", "qa1", "--segment", "32", "--memory", "4", "--curriculum", "1,2",
              "--max-steps", "1", "--val-samples", "2", "--memory-limit-gb", f"{limit:.9f}", "--no-progress"]
    assert main([*common, "--output", str(tmp_path / "lowered")]) == 0
    out = capsys.readouterr().out
    assert "stage 1 (1 segments" in out and "this stage trains with batch" in out
    assert "stage 2 (2 segments of 32 tokens" in out and "this stage trains with batch 3" in out
    assert main([*common, "--batch-size", "8", "--output", str(tmp_path / "refused")]) == 2
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and "batch 8 needs about" in error and "lower --batch-size to" in error
    assert not (tmp_path / "refused" / "last.pt").exists()


def test_per_task_trains_one_model_per_task(tmp_path) -> None:
    from babilong.cli import main
    from babilong.memory.checkpoint import read_checkpoint

    out = tmp_path / "run"
    assert main(["train", "--backbone", "tiny", "--tasks", "qa1-qa2", "--per-task", "--segment", "32", "--memory", "4",
                 "--curriculum", "0", "--max-steps", "1", "--val-samples", "2", "--batch-size", "2", "--no-progress",
                 "--output", str(out)]) == 0
    for task in ("qa1", "qa2"):
        assert read_checkpoint(out / task)["config"]["segment_size"] == 32


def test_init_starts_a_new_run_from_a_checkpoint_with_another_segment_size(tmp_path, capsys) -> None:
    from babilong.cli import main
    from babilong.memory.checkpoint import read_checkpoint

    common = ["train", "--backbone", "tiny", "--tasks", "qa1", "--memory", "4", "--max-steps", "1", "--val-samples", "2",
              "--batch-size", "2", "--no-progress"]
    assert main([*common, "--segment", "32", "--curriculum", "0", "--output", str(tmp_path / "first")]) == 0
    assert main([*common, "--init", str(tmp_path / "first"), "--segment", "48", "--curriculum", "1",
                 "--output", str(tmp_path / "second")]) == 0
    second = read_checkpoint(tmp_path / "second")
    assert second["config"]["segment_size"] == 48 and second["config"]["memory_tokens"] == 4
    assert main([*common, "--init", str(tmp_path / "first"), "--resume", "--output", str(tmp_path / "second")]) == 2
    assert "give only one" in capsys.readouterr().err


def test_a_short_sample_whose_story_leaves_no_room_for_sentences_gets_another_story() -> None:
    """Training qa2 at one 128-token segment stopped at this sample ("could not fit the facts")."""
    from babilong.generate import generate_samples

    sample = generate_samples("qa2", "128", 1, seed=1_000_000, split="train", start=32)[0]
    assert "story_redrawn" in sample.extra
