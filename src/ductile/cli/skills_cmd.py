"""`ductile skills` (and Ductile's spelling `ductile system skills`): this gateway's skills as a
Markdown document for an LLM agent's context, or `--json` as `GET /skills` answers.

It reads the config and discovers the plugins locally, as `plugin list` does, so no gateway has to
run: an operator can prepare the document before starting one. The list comes from
`ductile.skills.skill_list`, the function the `/skills` route calls, so the two cannot disagree.
"""

from __future__ import annotations

import sys

import typer

from ductile.cli.common import ConfigOption, JsonOption, print_json, setup_or_exit


def skills(config: ConfigOption = None, json_out: JsonOption = False) -> None:
    """What an agent can call on this gateway, as Markdown for its context; --json: as GET /skills answers."""
    from ductile.cli.target import listen_url
    from ductile.skills import skill_list

    setup = setup_or_exit(config)
    listed = skill_list(setup.registry, setup.graph)
    if json_out:
        print_json({"skills": listed})
        return
    from ductile.skills_doc import render_markdown

    api = setup.loaded.config.api
    sys.stdout.write(
        render_markdown(
            listed,
            setup.registry,
            title=setup.loaded.config.service.name,
            base_url=listen_url(api),
            api_enabled=api.enabled,
        )
    )


def register(app: typer.Typer) -> None:
    app.command("skills")(skills)
