"""The guard-format registry: one folder of data per guard family (guardcal/data/formats/<name>/:
format.yaml, its template, its default policy), read here by one small mechanism. A format says how
a family renders a conversation, the fixed text before its verdict, its verdict words and which of
them mean unsafe. Pure Python (no torch): the scorer reads it, the golden tests pin every rendered
character. Adding a family is adding a folder and its golden files."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from jinja2 import FileSystemLoader, TemplateError
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

from guardcal.config import EMBEDDED_PREFIX, Config, ConfigError, ModelConfig

Message = Mapping[str, str]
Bos = Literal["in_template", "tokenizer", "none"]
Level = Literal["safe", "unsafe", "controversial"]

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
FORMAT_DIR = DATA_DIR / "formats"
"""One folder per guard family; a folder without `format.yaml` (shared templates) is none."""
STUDY_FORMAT = "llama_guard_3"
"""The one format the `study` input mode builds: the study's code used Llama Guard 3 8B only."""
TAXONOMY = "taxonomy"  # the policy is the run's taxonomy block (`prompt.taxonomy`)
POLICIES = (TAXONOMY, "default", "none")
"""Where a format's policy text comes from: the run's taxonomy, the family's own default policy
files (policy.txt, or policy-prompt.txt and policy-response.txt), or nowhere (a fixed prompt). A
family with built-in policies by name (Granite Guardian's criteria) names its default as
`<folder>/<name>` instead: each `<folder>/<name>.txt` (or `-prompt`/`-response`) is one."""
BOS = ("in_template", "tokenizer", "none")
LEVELS = ("safe", "unsafe", "controversial")
MODES = ("prompt", "response")
SOURCE_KINDS = ("primary", "secondary")
REQUIRED = (
    "title",
    "generation",
    "model_ids",
    "template",
    "answer_lines",
    "verdicts",
    "bos",
    "policy",
    "tokenizer",
    "sources",
)
OPTIONAL = (
    "max_messages",
    "user_policy",
    "policy_block",
    "chat_template",
    "written_lines",
    "reasoning",
)
REASONING_KEYS = ("start", "end", "answer_lines", "effort")


class FormatError(ValueError):
    """A conversation this format cannot render, a model id no format matches, or format data
    that does not validate."""


@dataclass(frozen=True)
class Source:
    """Where a fact of a format comes from: the vendor's own file (primary) or a copy."""

    what: str
    repository: str
    kind: Literal["primary", "secondary"]
    file: str | None = None
    commit: str | None = None


@dataclass(frozen=True)
class Reasoning:
    """How a family reasons before its verdict: the text forced where its trace starts (empty
    where the guard opens the trace itself), its end-of-reasoning marker, the answer lines forced
    after the marker, per mode, and the reasoning effort its template asks for (gpt-oss)."""

    start: str
    end: str
    prompt_lines: tuple[str, ...] | None
    response_lines: tuple[str, ...] | None
    effort: str | None = None


@dataclass(frozen=True)
class GuardFormat:
    """One guard family's input and output conventions, read from its folder.

    `text(messages, policy, tokenizer)` is the model's input up to where it starts answering: the
    family's Jinja template rendered as transformers renders chat templates, with `messages`,
    `policy` (its text), `mode` (`prompt` or `response`), `reasoning` (whether the guard writes a
    trace first; a family that can carries `reasoning`) and `reasoning_effort`. The scorer appends
    the answer lines
    (`prompt_lines` or `response_lines`): the model answers every line but the last itself (its
    own pick among the verdict words, teacher-forced), and the verdict is read by one forward pass
    after the last. `verdicts` maps each verdict word, exactly as the model writes it after that
    text, to its level. `bos` says where the begin-of-text token comes from: written by the
    template, added by the tokenizer, or none.
    """

    name: str
    folder: Path
    title: str
    generation: str
    model_ids: tuple[str, ...]
    template: Path
    verdicts: Mapping[str, Level]
    prompt_lines: tuple[str, ...] | None
    response_lines: tuple[str, ...] | None
    bos: Bos
    max_messages: int | None
    policy: str
    user_policy: bool
    tokenizer: str
    sources: tuple[Source, ...]
    policy_block: tuple[str, str] | None = None
    chat_template: str | None = None
    written_lines: tuple[str, ...] = ()
    reasoning: Reasoning | None = None

    @property
    def unsafe_words(self) -> tuple[str, ...]:
        """The verdict words that count as unsafe under the authors' own rule."""
        return tuple(w for w, level in self.verdicts.items() if level != "safe")

    @property
    def judges(self) -> tuple[str, ...]:
        """The modes this family classifies: `prompt`, `response` or both."""
        lines = {"prompt": self.prompt_lines, "response": self.response_lines}
        return tuple(mode for mode, value in lines.items() if value is not None)

    def answer_lines(self, messages: Sequence[Message], reasoning: bool = False) -> tuple[str, ...]:
        """The fixed text before each answer line, the last one before the verdict (after a
        trace when `reasoning`)."""
        self.check(messages)
        return self.answer_lines_of(judged(messages), reasoning)

    def answer_lines_of(self, mode: str, reasoning: bool = False) -> tuple[str, ...]:
        """The answer lines of `mode` (`prompt` or `response`), which this format classifies;
        with `reasoning`, those forced after the trace's end-of-reasoning marker."""
        lines = self.prompt_lines if mode == "prompt" else self.response_lines
        if lines is None:
            raise FormatError(f"format {self.name!r} does not classify a {mode}")
        if reasoning:
            if self.reasoning is None:
                raise FormatError(f"format {self.name!r} does not reason before its verdict")
            after = (
                self.reasoning.prompt_lines if mode == "prompt" else self.reasoning.response_lines
            )
            return lines if after is None else after
        return lines

    def check(self, messages: Sequence[Message]) -> None:
        """Refuse, with the reason, a conversation this format cannot render."""
        check_roles(messages)
        mode = judged(messages)
        if mode not in self.judges:
            raise FormatError(
                f"format {self.name!r} classifies {' and '.join(self.judges)} only, not a {mode}"
            )
        if self.max_messages is not None and len(messages) > self.max_messages:
            raise FormatError(
                f"format {self.name!r} renders one prompt"
                f"{' and one response' if self.max_messages == 2 else ''}, not a conversation of"
                f" {len(messages)} messages (its template reads only the last turn)"
            )

    @property
    def policy_names(self) -> tuple[str, ...]:
        """The family's built-in policies by name (`prompt.policy`), the default first; none
        where it has one default policy or none."""
        if self.policy in POLICIES:
            return ()
        folder, default = self._policy_folder()
        names = {
            p.stem.removesuffix("-prompt").removesuffix("-response") for p in folder.glob("*.txt")
        }
        return (default, *sorted(names - {default}))

    def _policy_folder(self) -> tuple[Path, str]:
        """The folder of built-in policies and the default's name."""
        path = self.folder / self.policy
        return path.parent, path.name

    def default_policy(self, mode: str, name: str | None = None) -> str:
        """The family's own policy text for `mode` (category block, guideline or criteria): its
        `policy-<mode>.txt`, else its `policy.txt` (or the built-in policy `name`, by default
        the family's default), without the file's final newline."""
        if self.policy in POLICIES:
            if name is not None:
                raise FormatError(f"format {self.name!r} has no built-in policies by name")
            candidates = [self.folder / f"policy-{mode}.txt", self.folder / "policy.txt"]
        else:
            folder, default = self._policy_folder()
            if name is not None and name not in self.policy_names:
                raise FormatError(
                    f"format {self.name!r} has no built-in policy {name!r}; its policies are: "
                    + ", ".join(self.policy_names)
                )
            stem = name or default
            candidates = [folder / f"{stem}-{mode}.txt", folder / f"{stem}.txt"]
        for path in candidates:
            if path.is_file():
                return path.read_text(encoding="utf-8").removesuffix("\n")
        raise FormatError(f"format {self.name!r} has no policy file for {mode}: {candidates[-1]}")

    def text(
        self,
        messages: Sequence[Message],
        policy: str | None = None,
        tokenizer: Any = None,
        reasoning: bool = False,
    ) -> str:
        """The rendered input, special tokens as text; a tokenizer's own BOS is not included.
        With `reasoning` the template asks the guard to reason first, where it can."""
        if reasoning and self.reasoning is None:
            raise FormatError(f"format {self.name!r} does not reason before its verdict")
        self.check(messages)
        mode = judged(messages)
        if policy is None:
            if self.policy == TAXONOMY:
                raise FormatError(
                    f"format {self.name!r} takes its categories from the run's taxonomy"
                )
            policy = "" if self.policy == "none" else self.default_policy(mode)
        source = self.template.read_text(encoding="utf-8")
        if self.policy_block is not None:
            source = with_policy(source, policy, self.policy_block)
        template = _compiled(self.folder, source)
        try:
            text = template.render(
                messages=[dict(m) for m in messages],
                policy=policy,
                mode=mode,
                reasoning=reasoning,
                reasoning_effort=self.reasoning.effort if self.reasoning else None,
                add_generation_prompt=True,
            )
        except TemplateError as exc:
            raise FormatError(f"format {self.name!r}: {exc}") from None
        if self.chat_template == "tokenizer":
            text = _tokenizer_chat(self.name, text, tokenizer)
        return text


def check_roles(messages: Sequence[Message]) -> None:
    """Messages alternate user/assistant, starting with the user, each with string content."""
    if not messages:
        raise FormatError("a conversation needs at least one message")
    for i, message in enumerate(messages):
        want = "user" if i % 2 == 0 else "assistant"
        if message.get("role") != want:
            raise FormatError(
                f"message {i} has role {message.get('role')!r}: roles must alternate"
                " user/assistant, starting with user"
            )
        if not isinstance(message.get("content"), str):
            raise FormatError(f"message {i} has no string content")


def judged(messages: Sequence[Message]) -> str:
    """`prompt` when the last message is the user's, `response` when it is the assistant's."""
    return "prompt" if messages[-1]["role"] == "user" else "response"


def conversation(prompt: str, response: str | None = None) -> list[dict[str, str]]:
    """A record's prompt and optional response as a message list."""
    messages = [{"role": "user", "content": prompt}]
    if response is not None:
        messages.append({"role": "assistant", "content": response})
    return messages


# ---- rendering -------------------------------------------------------------------------------

BLOCK = ("<BEGIN UNSAFE CONTENT CATEGORIES>\n", "<END UNSAFE CONTENT CATEGORIES>")


def with_policy(template: str, policy: str, block: tuple[str, str] = BLOCK) -> str:
    """A chat template with its own category block replaced by `policy` (how the study's code
    built its Llama Guard 3 template string)."""
    start, end = block
    if start not in template or end not in template:
        raise FormatError(f"the chat template has no {start.strip()} block to substitute")
    if '"' in policy or "\\" in policy:  # it goes inside a Jinja string literal
        raise FormatError("a category block with a quote or backslash cannot go in the template")
    head, rest = template.split(start, 1)
    return head + start + policy + "\n" + rest[rest.index(end) :]


def _refuse(message: str) -> None:
    """A chat template's `raise_exception`."""
    raise FormatError(message)


def _tojson(
    value: Any,
    ensure_ascii: bool = False,
    indent: int | None = None,
    separators: tuple[str, str] | None = None,
    sort_keys: bool = False,
) -> str:
    """transformers' `tojson` filter (plain JSON, no HTML escaping)."""
    return json.dumps(
        value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
    )


@cache
def _environment(folder: Path) -> ImmutableSandboxedEnvironment:
    """The Jinja environment transformers' `apply_chat_template` compiles chat templates in
    (sandboxed, trimmed blocks, loop controls, its `tojson` and `raise_exception`); a family's
    template may include a file of its folder or of guardcal/data/ (a shared chat template)."""
    env = ImmutableSandboxedEnvironment(
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=[loopcontrols],
        loader=FileSystemLoader([folder, DATA_DIR]),
    )
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _refuse
    return env


@cache
def _compiled(folder: Path, template: str) -> Any:
    """A family's template text compiled in its environment."""
    return _environment(folder).from_string(template)


def _tokenizer_chat(name: str, text: str, tokenizer: Any) -> str:
    """`text` as the single user turn of the tokenizer's own chat template."""
    if getattr(tokenizer, "chat_template", None) is None:
        raise FormatError(f"the {name} format needs a tokenizer with a chat template")
    return tokenizer.apply_chat_template(
        [{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True
    )


@cache
def llama_guard_3_template() -> str:
    """Llama Guard 3 8B's chat template as the study used it (its format's template file)."""
    return FORMATS[STUDY_FORMAT].template.read_text(encoding="utf-8")


# ---- the data folders ------------------------------------------------------------------------


def _fail(path: Path, key: str, message: str) -> FormatError:
    return FormatError(f"{path}: {key}: {message}")


def _strings(path: Path, key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(path, key, f"must be a list of strings, got {value!r}")
    return tuple(value)


def _sources(path: Path, raw: Any) -> tuple[Source, ...]:
    if not isinstance(raw, list):
        raise _fail(path, "sources", "must be a list")
    sources = []
    for i, entry in enumerate(raw):
        key = f"sources[{i}]"
        if not isinstance(entry, dict) or not {"what", "repository", "kind"} <= set(entry):
            raise _fail(path, key, "needs what, repository and kind (file and commit optional)")
        unknown = set(entry) - {"what", "repository", "kind", "file", "commit"}
        if unknown:
            raise _fail(path, key, f"unknown keys {sorted(unknown)}")
        if entry["kind"] not in SOURCE_KINDS:
            raise _fail(path, f"{key}.kind", f"must be one of {SOURCE_KINDS}")
        commit = entry.get("commit")
        if commit is not None and not re.fullmatch(r"[0-9a-f]{7,40}", str(commit)):
            raise _fail(path, f"{key}.commit", f"must be a commit hash, got {commit!r}")
        sources.append(Source(**{k: str(v) for k, v in entry.items()}))
    return tuple(sources)


def _reasoning(path: Path, raw: Any, lines: Mapping[str, Any]) -> Reasoning | None:
    """A format's `reasoning` entry: its end marker (required), start, effort and the answer
    lines after the marker (for modes the format classifies)."""
    if raw is None:
        return None
    if not isinstance(raw, dict) or "end" not in raw:
        raise _fail(path, "reasoning", f"must be a mapping with `end` (keys {REASONING_KEYS})")
    unknown = sorted(set(raw) - set(REASONING_KEYS))
    if unknown:
        raise _fail(path, "reasoning", f"unknown keys {unknown} (allowed: {REASONING_KEYS})")
    for key in ("start", "end", "effort"):
        if key in raw and not isinstance(raw[key], str):
            raise _fail(path, f"reasoning.{key}", f"must be a string, got {raw[key]!r}")
    if not raw["end"]:
        raise _fail(path, "reasoning.end", "needs the end-of-reasoning marker")
    after = raw.get("answer_lines", {})
    if not isinstance(after, dict) or set(after) - set(lines):
        raise _fail(path, "reasoning.answer_lines", f"must map some of {sorted(lines)} to lines")
    for mode, value in after.items():
        if not _strings(path, f"reasoning.answer_lines.{mode}", value):
            raise _fail(path, f"reasoning.answer_lines.{mode}", "needs the text after the marker")
    return Reasoning(
        start=raw.get("start", ""),
        end=raw["end"],
        prompt_lines=tuple(after["prompt"]) if "prompt" in after else None,
        response_lines=tuple(after["response"]) if "response" in after else None,
        effort=raw.get("effort"),
    )


def load_format(folder: Path) -> GuardFormat:
    """The format a family's folder defines, or an error naming the file and the key."""
    path = folder / "format.yaml"
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise FormatError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise FormatError(f"{path}: must be a mapping of keys")
    missing = [k for k in REQUIRED if k not in raw]
    unknown = sorted(set(raw) - set(REQUIRED) - set(OPTIONAL))
    if missing or unknown:
        raise FormatError(f"{path}: missing keys {missing}, unknown keys {unknown}")
    lines = raw["answer_lines"]
    if not isinstance(lines, dict) or not lines or set(lines) - set(MODES):
        raise _fail(path, "answer_lines", f"must map {' and/or '.join(MODES)} to their lines")
    for mode, value in lines.items():
        if not _strings(path, f"answer_lines.{mode}", value):
            raise _fail(path, f"answer_lines.{mode}", "needs the text before the verdict")
    verdicts = raw["verdicts"]
    if not isinstance(verdicts, dict) or any(v not in LEVELS for v in verdicts.values()):
        raise _fail(path, "verdicts", f"must map each verdict word to one of {LEVELS}")
    if not {"safe", "unsafe"} <= set(verdicts.values()):
        raise _fail(path, "verdicts", "needs a safe and an unsafe word")
    if raw["bos"] not in BOS:
        raise _fail(path, "bos", f"must be one of {BOS}, got {raw['bos']!r}")
    policy = raw["policy"]
    if not isinstance(policy, str) or (policy not in POLICIES and "/" not in policy):
        raise _fail(path, "policy", f"must be one of {POLICIES} or <folder>/<name>, got {policy!r}")
    for pattern in _strings(path, "model_ids", raw["model_ids"]):
        try:
            re.compile(pattern)
        except re.error as exc:
            raise _fail(path, "model_ids", f"{pattern!r} is not a regex: {exc}") from None
    template = (folder / str(raw["template"])).resolve()
    if not template.is_file():
        raise _fail(path, "template", f"no template file {template}")
    block = raw.get("policy_block")
    if block is not None and len(_strings(path, "policy_block", block)) != 2:
        raise _fail(path, "policy_block", "must be the block's first and last line")
    if raw.get("chat_template") not in (None, "tokenizer"):
        raise _fail(path, "chat_template", "can only be `tokenizer` (its own template)")
    max_messages = raw.get("max_messages")
    if max_messages is not None and (not isinstance(max_messages, int) or max_messages < 1):
        raise _fail(path, "max_messages", "must be a positive number of messages")
    fmt = GuardFormat(
        name=folder.name,
        folder=folder,
        title=str(raw["title"]),
        generation=str(raw["generation"]),
        model_ids=tuple(raw["model_ids"]),
        template=template,
        verdicts=dict(verdicts),
        prompt_lines=tuple(lines["prompt"]) if "prompt" in lines else None,
        response_lines=tuple(lines["response"]) if "response" in lines else None,
        bos=raw["bos"],
        max_messages=max_messages,
        policy=raw["policy"],
        user_policy=bool(raw.get("user_policy", False)),
        tokenizer=str(raw["tokenizer"]),
        sources=_sources(path, raw["sources"]),
        policy_block=tuple(block) if block is not None else None,
        chat_template=raw.get("chat_template"),
        written_lines=_strings(path, "written_lines", raw.get("written_lines", [])),
        reasoning=_reasoning(path, raw.get("reasoning"), lines),
    )
    earlier = {
        line
        for mode in fmt.judges
        for thinking in (False, True)[: 1 + (fmt.reasoning is not None)]
        for line in fmt.answer_lines_of(mode, thinking)[:-1]
    }
    if not set(fmt.written_lines) <= earlier:
        raise _fail(path, "written_lines", "must be answer lines before a verdict's line")
    if fmt.policy != "none" and fmt.policy != TAXONOMY:
        for mode in fmt.judges:
            try:  # a missing policy file fails here, not at scoring
                fmt.default_policy(mode)
            except FormatError as exc:
                raise _fail(path, "policy", str(exc)) from None
    return fmt


def load_formats(root: Path = FORMAT_DIR) -> dict[str, GuardFormat]:
    """Every family folder under `root`, by name, in name order."""
    return {
        folder.name: load_format(folder)
        for folder in sorted(root.iterdir())
        if (folder / "format.yaml").is_file()
    }


FORMATS: dict[str, GuardFormat] = load_formats()
LLAMA_GUARD_3_TEMPLATE = FORMATS[STUDY_FORMAT].template
"""Llama-Guard-3-8B's chat template, the study's copy (which begins with a space before
`<|begin_of_text|>`): the one definition of that model's input."""


def format_named(name: str) -> GuardFormat:
    """The registry entry called `name`, or an error listing the formats."""
    if name not in FORMATS:
        raise FormatError(f"unknown guard format {name!r}; the formats are: {', '.join(FORMATS)}")
    return FORMATS[name]


def format_for(model_id: str, override: str | None = None) -> GuardFormat:
    """The format a model id selects (or `override`, a model config's `format:`)."""
    if override is not None:
        return format_named(override)
    hits = [f for f in FORMATS.values() if any(re.search(p, model_id.lower()) for p in f.model_ids)]
    if len(hits) != 1:
        found = (
            "matches no guard format"
            if not hits
            else f"matches several formats ({', '.join(f.name for f in hits)})"
        )
        raise FormatError(
            f"model id {model_id!r} {found}; set `format:` in its model config to one of: "
            + ", ".join(FORMATS)
        )
    return hits[0]


def binary_levels(
    fmt: GuardFormat | Mapping[str, str], controversial: Level = "unsafe"
) -> dict[str, str]:
    """Each verdict word's binary class (three-level guards: `controversial` by the config rule),
    of a format's own words or of a word → level map (a chat model's configured verbalizer)."""
    if controversial not in ("safe", "unsafe"):
        raise FormatError(f"controversial must count as 'safe' or 'unsafe', not {controversial!r}")
    verdicts = fmt.verdicts if isinstance(fmt, GuardFormat) else fmt
    return {w: (controversial if lvl == "controversial" else lvl) for w, lvl in verdicts.items()}


def verdict_position(fmt: GuardFormat) -> str:
    """Where a format's verdict is read, per mode: after the fixed text before it (the guard
    answers any earlier answer lines itself), or at the first token the guard writes."""

    def after(lines: tuple[str, ...]) -> str:
        where = repr(lines[-1]) if lines[-1] else "first token"
        return where + (f" (answer line {len(lines)})" if len(lines) > 1 else "")

    by_mode = {mode: after(fmt.answer_lines_of(mode)) for mode in fmt.judges}
    if len(set(by_mode.values())) == 1:
        return next(iter(by_mode.values()))
    return "; ".join(f"{mode}: {where}" for mode, where in by_mode.items())


def listing() -> str:
    """The registry for `guardcal formats`, grouped by generation: each family's modes, where its
    verdict is read, its verdict words (the unsafe ones starred), BOS handling and the ids it
    matches."""
    header = ("format", "classifies", "verdict read after", "verdict words (*unsafe)", "bos")
    rows: list[tuple[str, ...]] = [header]
    ids: list[str] = [""]
    for fmt in sorted(FORMATS.values(), key=lambda f: (f.generation, f.name)):
        words = " ".join(
            repr(w) + ("*" if lvl != "safe" else "") for w, lvl in fmt.verdicts.items()
        )
        classifies = "+".join(fmt.judges)
        rows.append((fmt.name, classifies, verdict_position(fmt), words, fmt.bos))
        ids.append(" | ".join(fmt.model_ids) or "(format: chat only)")
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    out, generation = (
        ["  ".join(c.ljust(w) for c, w in zip(header, widths, strict=True)) + "  ids"],
        None,
    )
    for row, fmt_ids in zip(rows[1:], ids[1:], strict=True):
        fmt = FORMATS[row[0]]
        if fmt.generation != generation:
            generation = fmt.generation
            out.append(f"-- {generation} --")
        out.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + "  " + fmt_ids)
    return "\n".join(out)


def spec_format(spec: ModelConfig) -> GuardFormat:
    """A configured guard's format: its `format:`, else the one its model id selects (the
    embedded models are generic chat models)."""
    if spec.format != "auto":
        return format_named(spec.format)
    if spec.model.startswith(EMBEDDED_PREFIX):
        return FORMATS["chat"]
    return format_for(spec.model)


def check_models(cfg: Config) -> None:
    """Every configured guard has a format that the input mode can build (`study` is the study's
    Llama Guard 3 8B input only), a configured policy has a guard that takes it, or a config
    error naming the key; no model loads."""
    formats = []
    for i, spec in enumerate(cfg.models):
        try:
            fmt = spec_format(spec)
        except FormatError as exc:
            raise ConfigError(f"{cfg.source_file}: models[{i}].format: {exc}") from None
        if spec.reasoning.on and fmt.reasoning is None:
            thinking = [f.name for f in FORMATS.values() if f.reasoning is not None]
            raise ConfigError(
                f"{cfg.source_file}: models[{i}].reasoning: format {fmt.name!r} does not reason "
                f"before its verdict; the formats that do: {', '.join(thinking)}"
            )
        if cfg.prompt.input == "study" and fmt.name != STUDY_FORMAT:
            raise ConfigError(
                f"{cfg.source_file}: prompt.input: `study` is the study's {STUDY_FORMAT} input;"
                f" models[{i}] {spec.name!r} has format {fmt.name!r} (use `input: model`)"
            )
        formats.append(fmt)
    takes = {
        "policy_file": [f for f in FORMATS.values() if f.user_policy],
        "policy": [f for f in FORMATS.values() if f.policy_names],
    }
    for key, able in takes.items():
        if getattr(cfg.prompt, key) is not None and not {f.name for f in formats} & {
            f.name for f in able
        }:
            raise ConfigError(
                f"{cfg.source_file}: prompt.{key}: no configured guard takes one (the formats"
                f" that do: {', '.join(f.name for f in able)})"
            )
    name = cfg.prompt.policy
    for i, fmt in enumerate(formats):
        if name is not None and fmt.policy_names and name not in fmt.policy_names:
            raise ConfigError(
                f"{cfg.source_file}: prompt.policy: models[{i}] {cfg.models[i].name!r} has no"
                f" built-in policy {name!r}; its policies are: {', '.join(fmt.policy_names)}"
            )
