"""``python -m devices.agent``: run the agent for MADOGUCHI_TERMINAL_CODE."""

from .app import agent_app
from .config import AgentConfig
from .drivers import a4_printer


def main() -> None:
    config = AgentConfig.from_env()
    a4_printer(
        config
    )  # an unknown printer setting stops the agent now, with its message, not at the first job
    agent_app.worker_main(
        [
            "worker",
            "-Q",
            f"terminal.{config.terminal}",
            "-n",
            f"agent-{config.terminal}@%h",
            "--pool=solo",
            "--without-gossip",
            "--without-mingle",
            "-l",
            "info",
        ]
    )


if __name__ == "__main__":
    main()
