"""The demo page: upload or pick a video, ask a question, see the answers and why.

    mspan-pyg demo runs/own/best.pt [--port 7860] [--videos my_videos/]

One :class:`~mspan_pyg.video.answer.VideoAnswerer` (model and backbones loaded once) answers
every question of the page; questions run one at a time. The page shows the top answers with
their scores, the sampled frames, and the clips that mattered (the picture of
``mspan-pyg answer --explain``). A video that cannot be used gets the ``error: ...`` line the
command line prints. The server binds to 127.0.0.1 unless ``--host`` says otherwise; nothing is
shared, and Gradio's analytics are off.

:class:`DemoAnswers` is the page's logic without Gradio (tested directly); :func:`build_demo`
lays it out, :func:`launch_demo` serves it.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any, Dict, List, Optional, Sequence, Tuple

from mspan_pyg.errors import ConfigError, MSPANError, error_line

INSTALL_HINT = 'pip install "mspan-pyg[demo]"'
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
TOP_K = 5


def _gradio():
    # before the import: Gradio reads it once, and the demo must not call home
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    try:
        import gradio
    except ImportError:
        raise ConfigError(f"the demo needs Gradio: {INSTALL_HINT}") from None
    return gradio


def list_videos(folder: Optional[str]) -> Dict[str, str]:
    """``{file name: path}`` of the videos in ``folder`` (the page's "pick a video" list)."""
    if not folder:
        return {}
    from mspan_pyg.video.extract import VIDEO_EXTENSIONS

    if not os.path.isdir(folder):
        raise ConfigError(f"--videos {folder} is not a folder")
    names = sorted(n for n in os.listdir(folder) if n.lower().endswith(VIDEO_EXTENSIONS))
    return {n: os.path.join(folder, n) for n in names}


class DemoAnswers:
    """What the page does when asked: one loaded model, one question at a time.

    :meth:`ask` returns the page's outputs: the answer line (or the ``error: ...`` line), the
    scores of the top answers, the sampled frames with their source frame numbers, and the
    explanation picture."""

    def __init__(
        self,
        checkpoint: str,
        videos: Optional[str] = None,
        appearance_weights: Optional[str] = None,
        motion_weights: Optional[str] = None,
        device: str = "cpu",
    ):
        from mspan_pyg.video.answer import VideoAnswerer

        self.answerer = VideoAnswerer(checkpoint, appearance_weights, motion_weights, device)
        self.videos = list_videos(videos)
        self.pictures = tempfile.mkdtemp(prefix="mspan-demo-")

    @property
    def head(self) -> str:
        return self.answerer.head

    def ask(
        self,
        upload: Optional[str],
        picked: Optional[str],
        question: str,
        candidates: str = "",
    ) -> Tuple[str, Optional[Dict[str, float]], List[Tuple[Any, str]], Optional[str]]:
        """``(answer line, {answer: score} or None, [(frame, caption)], picture path or None)``
        for the uploaded video (else the picked one)."""
        video = upload or (self.videos.get(picked) if picked else None)
        if not video:
            return "error: upload a video or pick one", None, [], None
        options = [c.strip() for c in (candidates or "").splitlines() if c.strip()]
        picture = os.path.join(self.pictures, f"explain_{len(os.listdir(self.pictures))}.png")
        try:
            r = self.answerer.answer(
                video, question, options or None, top_k=TOP_K, explain=picture, thumbnails=True
            )
        except (MSPANError, OSError) as e:
            return error_line(e), None, [], None
        frames = [
            (thumb, f"frame {index}") for thumb, index in zip(r["thumbnails"], r["frame_indices"])
        ]
        if r["head"] == "count":
            line = f"count: {r['count']} (raw output {r['raw']:.3f})"
            scores = None
        else:
            best, p = r["answers"][0]
            line = f"answer: {best} ({p:.1%})"
            scores = {name: float(p) for name, p in r["answers"]}
        sampled = f"{len(frames)} frames sampled of {r['num_source_frames']}"
        return f"{line}\n\n{sampled}", scores, frames, r["figure"]


def markdown_text(text: str) -> str:
    """``text`` shown as it is in a Markdown block (a file name's ``_`` is no emphasis)."""
    return "".join("\\" + c if c in "\\`*_{}[]<>()#+-.!|~" else c for c in text)


def build_demo(answers: DemoAnswers):
    """The Gradio page of ``answers`` (a ``gradio.Blocks``)."""
    gr = _gradio()
    multichoice = answers.head == "multichoice"
    with gr.Blocks(title="MSPAN video question answering") as page:
        gr.Markdown(
            "# MSPAN video question answering\n"
            f"Model: `{answers.answerer.checkpoint}` ({answers.head} answers). Upload a video "
            "or pick one, ask a question, and see the answers, the sampled frames and the "
            "clips that mattered."
        )
        with gr.Row():
            with gr.Column():
                upload = gr.File(label="video", type="filepath", elem_id="video")
                picked = gr.Dropdown(
                    choices=list(answers.videos),
                    value=None,
                    label="or pick a video",
                    visible=bool(answers.videos),
                    elem_id="picked",
                )
                question = gr.Textbox(label="question", elem_id="question")
                candidates = gr.Textbox(
                    label="candidate answers, one per line",
                    lines=4,
                    visible=multichoice,
                    elem_id="candidates",
                )
                ask = gr.Button("Answer", variant="primary", elem_id="ask")
            with gr.Column():
                line = gr.Markdown(elem_id="answer")
                scores = gr.Label(label="top answers", num_top_classes=TOP_K, elem_id="scores")
        frames = gr.Gallery(label="sampled frames", columns=8, height="auto", elem_id="frames")
        picture = gr.Image(
            label="the clips that mattered", type="filepath", interactive=False, elem_id="explain"
        )
        inputs = [upload, picked, question, candidates]
        outputs = [line, scores, frames, picture]

        def respond(*values):
            text, *rest = answers.ask(*values)
            return (markdown_text(text), *rest)

        # one event name, and one at a time (one model): Enter in the question is the button
        once = dict(concurrency_limit=1, concurrency_id="answer")
        ask.click(respond, inputs, outputs, api_name="answer", **once)
        question.submit(respond, inputs, outputs, api_visibility="undocumented", **once)
    return page


def launch_demo(
    checkpoint: str,
    port: int = DEFAULT_PORT,
    host: str = DEFAULT_HOST,
    videos: Optional[str] = None,
    appearance_weights: Optional[str] = None,
    motion_weights: Optional[str] = None,
    device: str = "cpu",
    block: bool = True,
    quiet: bool = False,
):
    """Loads the model once and serves the page on ``host:port``; returns the page (call
    ``.close()`` on it) when ``block`` is false, else serves until interrupted."""
    gr = _gradio()
    answers = DemoAnswers(checkpoint, videos, appearance_weights, motion_weights, device)
    page = build_demo(answers)
    # the system's fonts: the default theme would fetch Google's
    theme = gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"],
                              font_mono=["ui-monospace", "monospace"])  # fmt: skip
    page.launch(
        server_name=host,
        server_port=port,
        share=False,
        prevent_thread_lock=not block,
        quiet=quiet,
        theme=theme,
        footer_links=[],
        allowed_paths=[answers.pictures] + ([videos] if videos else []),
    )
    return page


def add_demo_arguments(p) -> None:
    p.add_argument("checkpoint", help="a checkpoint (.pt) or an exported model folder")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"(default {DEFAULT_PORT})")
    p.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"address to serve on (default {DEFAULT_HOST}: this machine only)",
    )
    p.add_argument("--videos", default=None, help="a folder of videos the page offers to pick")
    p.add_argument("--appearance-weights", default=None)
    p.add_argument("--motion-weights", default=None)
    p.add_argument("--device", default="cpu")


def demo_from_args(ns) -> None:
    print(f"serving the demo of {ns.checkpoint} on http://{ns.host}:{ns.port} (Ctrl-C stops it)")
    launch_demo(
        ns.checkpoint,
        port=ns.port,
        host=ns.host,
        videos=ns.videos,
        appearance_weights=ns.appearance_weights,
        motion_weights=ns.motion_weights,
        device=ns.device,
    )


__all__: Sequence[str] = ("DemoAnswers", "build_demo", "launch_demo")
