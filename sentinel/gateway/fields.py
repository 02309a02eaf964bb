"""OpenAI's per-model fields (the output fields, an edit's input_fidelity and several images): which a request asks,
which candidates of its route take them, and the 400 naming the field, and the models that take it, when none does.
One mechanism for generations and edits alike: each adapter declares the fields it takes (``output_fields``)."""

from __future__ import annotations

from dataclasses import replace

from sentinel.errors import InvalidInput
from sentinel.gateway.schemas import ImagesEditRequest, ImagesGenerationRequest, ImagesVariationRequest
from sentinel.providers.base import Operation, OutputOptions, unsupported_output
from sentinel.providers.registry import Unconfigured
from sentinel.providers.router import ResolvedModel, Router


def output_options_of(
    body: ImagesGenerationRequest | ImagesEditRequest | ImagesVariationRequest, images: int = 1
) -> OutputOptions:
    """OpenAI's per-model fields of a request, as the adapters take them: the output fields, and an edit's
    ``input_fidelity`` and number of ``images`` (asked only when more than one)."""
    return OutputOptions(
        style=getattr(body, "style", None),
        background=getattr(body, "background", None),
        output_format=getattr(body, "output_format", None),
        output_compression=getattr(body, "output_compression", None),
        moderation=getattr(body, "moderation", None),
        input_fidelity=getattr(body, "input_fidelity", None),
        image=images if images > 1 else None,
    )


def refuse_output_fields_for_jobs(body: ImagesGenerationRequest | ImagesEditRequest, images: int = 1) -> None:
    """A judged request (``extra_body.sentinel.task``) runs as a job, and jobs pass on neither output fields nor an
    edit's input_fidelity, second images, a negative prompt or streaming yet: a 400 naming the field rather than a
    result that silently ignores it."""
    if getattr(body, "stream", None):
        refused: str | None = "stream"
    elif getattr(body, "negative_prompt", None):
        refused = "negative_prompt"
    else:
        refused = unsupported_output(output_options_of(body, images), {})
    if refused is not None:
        error = InvalidInput(
            f"{refused} is not supported together with sentinel.task (judged requests run as jobs, which do not "
            f"pass it on); leave out one of them",
            field=refused,
        )
        error.code = "unsupported_parameter"
        raise error


def honouring(router: Router, resolved: ResolvedModel, output: OutputOptions, operation: Operation) -> ResolvedModel:
    """The route narrowed to the candidates whose adapter passes on every field asked for (output fields, an
    edit's input_fidelity and several images); a 400 naming the field, and the models that take it, when no
    configured candidate can. A field is never dropped silently: a transparent background that comes back opaque,
    or an edit that saw one of three images, is a broken result to the caller."""
    if not output.asked():
        return resolved
    kept, refusals, callable_kept = [], [], 0
    for candidate in resolved.route.candidates:
        provider = router.providers.get(candidate.provider)
        if provider is None or isinstance(provider, Unconfigured):
            kept.append(candidate)  # never called anyway; the router's call log says why
            continue
        refused = unsupported_output(output, router.fields_of(candidate))
        if refused is None:
            kept.append(candidate)
            callable_kept += 1
        else:
            refusals.append((refused, candidate.target))
    if not refusals:
        return resolved
    if not callable_kept:
        field = refusals[0][0]
        names = ", ".join(target for name, target in refusals if name == field)
        value = output.asked()[field]
        asked = f"{value} images" if field == "image" else f"{field} '{value}'"
        refusal = InvalidInput(
            f"{asked} cannot be honoured by model '{resolved.requested}': none of its candidates takes "
            f"{'more than one image' if field == 'image' else 'it'} ({names}); models that take it: "
            f"{', '.join(models_taking(router, field, value, operation)) or 'none in this routing file'} "
            "(GET /v1/models lists each candidate's fields)",
            field=field,
        )
        refusal.code = "unsupported_parameter"  # OpenAI's code for a field the model does not take
        raise refusal
    route = resolved.route.model_copy(update={"candidates": kept})
    return replace(resolved, route=route)


def models_taking(router: Router, field: str, value: str | int, operation: Operation) -> list[str]:
    """The routing file's models with a candidate that serves ``operation`` and takes ``field`` at ``value``."""
    asked = OutputOptions(**{field: value})
    return [
        name
        for name, route in router.config.models.items()
        if any(
            router.can(c, operation) and unsupported_output(asked, router.fields_of(c)) is None
            for c in route.candidates
        )
    ]
