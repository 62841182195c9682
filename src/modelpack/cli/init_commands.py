"""`init`: write modelpack.yaml from what a directory's files say."""

from __future__ import annotations

import click

from modelpack.cli.common import clean, handle_errors


@click.command()
@click.argument("model_dir", type=click.Path(file_okay=False))
@click.option("--force", is_flag=True, help="Replace an existing modelpack.yaml.")
@click.option("--print", "to_stdout", is_flag=True, help="Write the YAML to stdout instead of the file.")
@handle_errors
def init(model_dir: str, force: bool, to_stdout: bool) -> None:
    """Write MODEL_DIR/modelpack.yaml from the files' headers (safetensors, GGUF, config.json, the model
    card, ONNX, pickles and skops files, XGBoost's .ubj/.bst/.json model files, a Hugging Face cache path);
    nothing is loaded or fetched."""
    from modelpack import api

    result = api.init_metadata(model_dir, force=force, write=not to_stdout)
    for note in result.notes:
        click.echo(f"note: {clean(note)}", err=True)
    if to_stdout:
        click.echo(result.text, nl=False)
    else:
        click.echo(f"wrote {clean(result.path)} from {clean(', '.join(result.sources) or 'the directory name')}",
                   err=True)


COMMANDS = (init,)
