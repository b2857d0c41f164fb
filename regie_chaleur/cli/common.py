"""What the command groups share: the parser type and the handler signature."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeAlias

from regie_chaleur.settings import Settings

if TYPE_CHECKING:
    Subparsers: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]
else:  # not subscriptable at run time
    Subparsers: TypeAlias = argparse._SubParsersAction
#: a command: parsed arguments and settings in, exit status out
Handler = Callable[[argparse.Namespace, Settings], int]
