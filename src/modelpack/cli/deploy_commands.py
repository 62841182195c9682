"""Commands from model to service: build-image, k8s, serve."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from modelpack.cli.common import (
    client_options,
    handle_errors,
    json_option,
    network_options,
    print_json,
    signature_policy_option,
    usable_seconds,
    visit_host,
)
from modelpack.cli.escape import clean, quote
from modelpack.cli.file_types import RegularFile

if TYPE_CHECKING:
    from typing import NoReturn


@click.command(name="build-image")
@click.argument("model_ref")
@click.option("-t", "--tag", "image", required=True,
              help="Image reference to push, e.g. registry/team/iris-serve:1, or oci:DIR[:TAG] to write an OCI "
              "image layout directory instead (offline; `modelpack copy oci:DIR:TAG REF` pushes it later).")
@click.option("--base", help="Base image (default: python:3.X-slim for this Python; busybox with --modelcar). "
              "A serving image's base needs python3: modelpack[serve] is installed on it for its platform and Python.")
@click.option("--modelcar", is_flag=True, help="KServe modelcar: the base plus /models, no serving entrypoint.")
@click.option("--no-serving-layer", is_flag=True,
              help="Do not install modelpack[serve]: the base already runs `modelpack serve` (serve/Dockerfile).")
@click.option("--docker", "use_docker", is_flag=True, help="Build with a Docker engine instead (needs one).")
@click.option("--verify-key", type=RegularFile(),
              help="Public key: the model's signature must verify first (for exactly the digest built); a "
              "serving image of a pickle (.joblib/.pkl) is built only then (or with --trust-unverified-pickle).")
@click.option("--trust-unverified-pickle", is_flag=True,
              help="Build a serving image that loads a pickle whose signature was not verified: it runs as code.")
@signature_policy_option
@network_options
@json_option
@handle_errors
def build_image(model_ref: str, image: str, base: str | None, modelcar: bool, no_serving_layer: bool,
                use_docker: bool, verify_key: str | None, trust_unverified_pickle: bool,
                signature_policy: str | None, plain_http: bool, insecure: bool, ca_file: str | None, verbose: bool,
                as_json: bool) -> None:
    """Build a serving image (or a modelcar) from a model and push it, without a Docker engine.

    A serving image is the base, modelpack[serve] installed for the base's Python and platform under
    /opt/modelpack (pip wheels, cached in the local store), and the model under /models; it runs
    `modelpack serve /models` on port 8080 as user 10001. As `serve REF`, it refuses a model whose served
    file would be a pickle unless --verify-key verified it or --trust-unverified-pickle is given (exit 2)."""
    from modelpack import api

    if use_docker:
        from modelpack.image.docker_build import build_with_docker

        desc = build_with_docker(model_ref, image, base=base, modelcar=modelcar,
                                 options=client_options(plain_http, insecure, ca_file, verbose),
                                 verify_key=verify_key, trust_unverified_pickle=trust_unverified_pickle,
                                 signature_policy=signature_policy)
    else:
        desc = api.build_image(model_ref, image, base=base, modelcar=modelcar, serving_layer=not no_serving_layer,
                               options=client_options(plain_http, insecure, ca_file, verbose),
                               verify_key=verify_key, trust_unverified_pickle=trust_unverified_pickle,
                               signature_policy=signature_policy, on_step=lambda line: click.echo(line, err=True))
    from modelpack.places import parse_place

    ref = parse_place(image)
    if as_json:
        print_json({"image": image, "digest": desc.digest, "pinned": str(ref.with_digest(desc.digest))})
    else:
        click.echo(str(ref.with_digest(desc.digest)))


@click.command()
@click.argument("reference")
@click.option("--kind", type=click.Choice(["deployment", "kserve", "image-volume"]), default="deployment",
              show_default=True, help="deployment: a Deployment and a Service; kserve: an InferenceService; "
              "image-volume: a Deployment mounting the model artifact as an image volume.")
@click.option("--serving-image", help="With --kind image-volume: the image that serves /models (from build-image).")
@click.option("--name", help="The objects' name, a DNS-1035 label (default: from the repository).")
@click.option("--namespace", help="The objects' namespace (default: none written: kubectl's current one).")
@click.option("--replicas", default=1, show_default=True, type=click.IntRange(0),
              help="Pods: a Deployment's replicas; KServe's minReplicas and maxReplicas.")
@click.option("--cpu", default="1", show_default=True, help="CPU request (a Kubernetes quantity: 500m, 2).")
@click.option("--memory", default="2Gi", show_default=True, help="Memory request and limit (a quantity: 512Mi, 4Gi).")
@click.option("--model-format", help="With --kind kserve: KServe's modelFormat (default: the model's framework).")
@click.option("--image-pull-secret", "image_pull_secrets", multiple=True, metavar="NAME",
              help="A Secret (kubectl create secret docker-registry NAME ...) the kubelet pulls the images and "
                   "the image volume with, for a registry that needs a login; repeatable.")
@click.option("--verify-key", type=RegularFile(),
              help="Public key the signature of exactly the digest written must verify with (the artifact's with "
              "--kind image-volume, else the image's); with image-volume (kserve) a pickle (.joblib/.pkl) is "
              "mounted only then (or with --trust-unverified-pickle).")
@click.option("--trust-unverified-pickle", is_flag=True,
              help="With --kind image-volume (kserve): mount a model (a modelcar) holding a pickle although its "
              "signature was not verified: it runs as code.")
@click.option("--whole-layers", is_flag=True,
              help="With --kind kserve: check a modelcar's /models for pickles in its layers downloaded whole and "
              "verified against their digests (default: an uncompressed layer over 16 MiB, unless the local store "
              "has it, is read by its tar headers through HTTP ranges, not bound to its digest: a warning says so).")
@click.option("--kube-version", metavar="MAJOR.MINOR",
              help="The cluster's Kubernetes version (kubectl version's server; default: 1.30 or later): before "
              "1.30 the preStop pause runs the serving image's Python instead of the sleep action, which 1.28 and "
              "1.29 refuse. Not with --kind kserve; image-volume needs 1.33.")
@signature_policy_option
@network_options
@handle_errors
def k8s(reference: str, kind: str, serving_image: str | None, name: str | None, namespace: str | None,
        replicas: int, cpu: str, memory: str, model_format: str | None, image_pull_secrets: tuple[str, ...],
        verify_key: str | None, trust_unverified_pickle: bool, whole_layers: bool, kube_version: str | None,
        signature_policy: str | None, plain_http: bool, insecure: bool, ca_file: str | None, verbose: bool) -> None:
    """Kubernetes YAML, every image reference pinned by digest. REF is: a serving image (build-image) for
    `deployment`; for `kserve` a modelcar image (build-image --modelcar; storageUri oci://) or a serving image
    (a custom predictor container); the model artifact for `image-volume`. Refused (exit 2) when the serving
    image would load an unverified pickle from the artifact, as `serve REF` refuses it, or a modelcar's /models
    holds one, as `build-image --modelcar` refuses it."""
    from modelpack import api

    click.echo(api.kubernetes(reference, kind, serving_image=serving_image, cpu=cpu, memory=memory,
                              model_format=model_format, name=name, namespace=namespace, replicas=replicas,
                              image_pull_secrets=image_pull_secrets,
                              options=client_options(plain_http, insecure, ca_file, verbose),
                              verify_key=verify_key, trust_unverified_pickle=trust_unverified_pickle,
                              signature_policy=signature_policy, whole_layers=whole_layers,
                              kube_version=kube_version), nl=False)


def _byte_size(ctx: click.Context, param: click.Parameter, value: str) -> int:
    """Click callback for a size option (`16MiB`, `1048576`): its bytes, or the option named with the fix."""
    from modelpack.errors import UsageError
    from modelpack.serve.limits import parse_size

    try:
        return parse_size(value)
    except UsageError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


def _request_size(ctx: click.Context, param: click.Parameter, value: str) -> int:
    """Click callback for --max-request-size: a size, at most MAX_REQUEST_LIMIT (1 GiB)."""
    from modelpack.errors import UsageError
    from modelpack.serve.limits import MAX_REQUEST_LIMIT, parse_size

    try:
        return parse_size(value, at_most=MAX_REQUEST_LIMIT)
    except UsageError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


@click.command()
@click.argument("source")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0 in a container).")
@click.option("--allow-host", "allow_hosts", multiple=True, metavar="NAME",
              help="Also answer requests for this Host name (repeatable; `*.example.com`, `*` any). On a loopback "
              "--host only addresses, localhost and this machine's name are answered (a page whose name "
              "resolves to 127.0.0.1 cannot read the model); with --allow-host, on any --host too.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="0: any free port.")
@click.option("--name", help="Model name in the API (default: the model's name).")
@click.option("--verify-key", type=RegularFile(),
              help="Public key: verify REF's signature first and serve exactly the verified digest; a pickle "
              "(.joblib/.pkl) from a registry is loaded only then (or with --trust-unverified-pickle).")
@click.option("--trust-unverified-pickle", is_flag=True,
              help="Load a pickle from REF although its signature was not verified: it runs as code.")
@click.option("--model-file", help="The file to serve, relative to the model directory (when several could be).")
@click.option("--max-connections", default=64, show_default=True, type=click.IntRange(1),
              help="Inference requests handled at once; more get 503.")
@click.option("--request-timeout", default=30.0, show_default=True, type=click.FloatRange(0, min_open=True),
              callback=usable_seconds,
              help="Seconds a client has to send a request's headers, then its body; also bounds the graceful stop.")
@click.option("--max-request-size", default="16MiB", show_default=True, callback=_request_size,
              help="Largest request body (e.g. 64MiB), at most 1GiB (a body is held whole, twice that may be in "
              "flight, a JSON one costs about 8 times its size parsed, and gRPC takes no message of 2 GiB); "
              "larger ones get 413 unread.")
@click.option("--min-receive-rate", default="1MiB", show_default=True, callback=_byte_size,
              help="gRPC: bytes a second a request message must arrive at (the largest within 1 s more than "
              "--max-request-size takes at this rate), or its call ends (DEADLINE_EXCEEDED).")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Processes serving on the one port, each with its own copy of the model.")
@click.option("--grpc-port", type=click.IntRange(0, 65535),
              help="Also serve the protocol over gRPC (inference.GRPCInferenceService) on this port; needs grpcio.")
@click.option("--listen-fd", type=int, hidden=True, help="A listening socket to serve on (set by --workers).")
@click.option("--parent-fd", type=int, hidden=True, help="A pipe whose end-of-file means the parent is gone "
              "(set by --workers).")
@click.option("--pinned", hidden=True, help="SOURCE with its tag resolved by the parent (set by --workers).")
@signature_policy_option
@network_options
@handle_errors
def serve(source: str, host: str, allow_hosts: tuple[str, ...], port: int, name: str | None, verify_key: str | None,
          trust_unverified_pickle: bool, signature_policy: str | None, model_file: str | None,
          max_connections: int, request_timeout: float, max_request_size: int, min_receive_rate: int, workers: int,
          grpc_port: int | None, listen_fd: int | None, parent_fd: int | None, pinned: str | None,
          plain_http: bool, insecure: bool, ca_file: str | None, verbose: bool) -> None:
    """Serve a model directory or reference over the Open Inference Protocol (KServe V2, REST, with
    binary tensors): /v2, /v2/health/live|ready, /v2/models/NAME[/versions/V][/ready|/infer], and
    Prometheus metrics at /metrics labelled with the model's name, version and digest. While the model
    loads, the port answers live (200), not ready (400) and anything else 503 (Retry-After).

    ONNX and .skops files are preferred to pickles. A pickle (.joblib/.pkl) runs code when loaded: from a
    directory you name it is loaded as your choice (a directory made by `pull -o` holds a registry's
    content: pull it with --verify-key); from a REF only with --verify-key or --trust-unverified-pickle.
    .skops files load only scikit-learn, numpy and scipy types. Exit 2 when a model is refused.
    SIGTERM or Ctrl-C stops it cleanly (requests in flight finish) with exit 0."""
    try:
        if parent_fd is not None:  # first: a parent gone while the model loads ends this worker too
            from modelpack.serve.parent_watch import end_with_parent

            end_with_parent(parent_fd)  # (its SIGTERM may come before this returns)
        _serve(source, host, allow_hosts, port, name, verify_key, trust_unverified_pickle, signature_policy, model_file,
               max_connections, request_timeout, max_request_size, min_receive_rate, workers, grpc_port, listen_fd,
               pinned, plain_http, insecure, ca_file, verbose)
    except KeyboardInterrupt as exc:  # stopped before serving (loading the model): a requested stop, as
        stopped_while_loading(exc)  # once serving and as `--workers` says it, not "error: terminated" (143)


def _serve(source: str, host: str, allow_hosts: tuple[str, ...], port: int, name: str | None, verify_key: str | None,
           trust_unverified_pickle: bool, signature_policy: str | None, model_file: str | None,
           max_connections: int, request_timeout: float, max_request_size: int, min_receive_rate: int, workers: int,
           grpc_port: int | None, listen_fd: int | None, pinned: str | None,
           plain_http: bool, insecure: bool, ca_file: str | None, verbose: bool) -> None:
    """`serve` once a worker watches its parent: load the model, then serve until stopped."""
    import socket
    import sys

    from modelpack import api
    from modelpack.http_hosts import serving_host_names
    from modelpack.serve.http_server import listen
    from modelpack.serve.lifecycle import configure_logging, run
    from modelpack.serve.limits import ServerLimits
    from modelpack.serve.loading import LoadingResponder
    from modelpack.serve.runtimes import require_stack

    configure_logging()
    require_stack(grpc_port is not None)  # before the port answers: a missing extra is its one line
    limits = ServerLimits(max_connections, request_timeout, max_request_size, min_receive_rate=min_receive_rate)
    host_names = serving_host_names(host, allow_hosts)  # the loading answers too: it tells what is served
    if workers > 1:
        from modelpack.serve.workers import run_workers

        shared = listen(host, port)
        bound = shared.getsockname()[1]
        # This process answers while the workers load (live, not ready), until the first serves: from then
        # on the port is the model's (a worker answering "not ready" itself would say it to some connections
        # while another said "ready" to others).
        # Its gRPC too, on a port the workers know (they bind it as well: SO_REUSEPORT, see grpc_loading).
        with LoadingResponder(shared, limits, host, grpc_port or None, host_names) as answering:
            # The tag is resolved once, here: workers resolving it each could serve different models.
            from modelpack.api.serving import pin_served

            pin = pin_served(source, client_options(plain_http, insecure, ca_file, verbose), signature_policy)

            code = run_workers([*sys.argv[1:], "--pinned", pin], shared, workers, first=answering.stop,
                               ready=lambda: click.echo(
                                   f"serving on http://{visit_host(host)}:{bound}/v2 ({workers} workers)", err=True))
        sys.exit(code)
    from modelpack.serve.malloc import return_large_allocations

    # This process is the server's own: freed bodies and messages leave it (see malloc). Not in
    # `serve_model`, which a library user calls in a process whose malloc is theirs.
    return_large_allocations()
    # Bound before the model is fetched and loaded (minutes for a large one): a port in use is said at once.
    sock = socket.socket(fileno=listen_fd) if listen_fd is not None else listen(host, port)
    # Answered meanwhile (live, not ready): by this process, or by a worker's parent (--listen-fd).
    with LoadingResponder(None if listen_fd is not None else sock, limits, host,
                          None if listen_fd is not None else grpc_port, host_names) as answering:
        server = api.serve_model(pinned or source, host=host, port=port, name=name, verify_key=verify_key,
                                 trust_unverified_pickle=trust_unverified_pickle, model_file=model_file,
                                 limits=limits, options=client_options(plain_http, insecure, ca_file, verbose),
                                 sock=sock, grpc_port=answering.grpc_port if listen_fd is None else grpc_port,
                                 signature_policy=signature_policy, allow_hosts=allow_hosts)
    if server.pulled is not None:  # as `pull` says it: what vouched for the model served
        from modelpack.cli.transfer_commands import say_verified

        say_verified(server.pulled)
    # Listening on every interface (a container's 0.0.0.0): URLs this machine can open, not 0.0.0.0 or :::PORT.
    grpc = f" and grpc://{visit_host(host)}:{server.grpc_port}" if server.grpc_port else ""

    def ready() -> None:
        base = f"http://{visit_host(host)}:{server.server_address[1]}/v2"
        if server.served is not None:  # a worker's too: `--workers N` shows the first worker's, once
            served = server.served  # where a newcomer sends requests: the name is the metadata's, not the folder's
            # The version is the artifact's (a registry's) text: quoted unless plain, so no part of it reads
            # as the line's URL. (The name is made of letters, digits and `_.-` when served.)
            version = f" {quote(served.version)}" if served.version else ""
            click.echo(clean(f"model {quote(served.name)}{version}: POST {base}/models/{served.name}/infer"), err=True)
        # Last: a supervisor (or a test) takes "serving on" as ready, and what follows as the server's log.
        click.echo(f"serving on {base}{grpc}", err=True)

    run(server, ready=ready)



def stopped_while_loading(exc: KeyboardInterrupt) -> NoReturn:
    """Say a stop signal that came before the server listened as one that comes later is said; exit 0."""
    import signal
    import sys

    from modelpack.cli.stops import Terminated
    from modelpack.serve.http_server import stopping_line

    click.echo(stopping_line(signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT), err=True)
    click.echo("stopped", err=True)
    sys.exit(0)


COMMANDS = (build_image, k8s, serve)
