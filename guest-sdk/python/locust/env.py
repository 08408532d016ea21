"""The run's environment (``self.environment``) and its options, as in Locust's
``locust.env``."""

from wit_world.imports import context as _context


class _Option:
    __slots__ = ("name", "default", "convert", "help")

    def __init__(self, name, default, convert, help_text):
        self.name = name
        self.default = default
        self.convert = convert
        self.help = help_text


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _boolean(value):
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"{value!r} is not true or false")


class CommandLineParser:
    """What ``init_command_line_parser`` listeners get as ``parser``: ``add_argument`` declares
    an option the host shows in ``--help`` and reads from the command line, ``LOCUST_*``
    variables and config files."""

    def __init__(self):
        self.options = {}

    def add_argument(self, *names, **kwargs):
        """Declare ``--name`` (Locust's ``parser.add_argument``)."""
        long_names = [name for name in names if name.startswith("--")]
        if not long_names:
            raise ValueError(
                f"add_argument{names}: options of a locustfile need a long name such as --my-option"
            )
        name = long_names[0][2:].lower().replace("_", "-")
        dest = kwargs.get("dest") or long_names[0][2:].replace("-", "_")
        action = kwargs.get("action")
        flag = action in ("store_true", "store_false")
        default = kwargs.get("default", (action == "store_false") if flag else None)
        convert = _boolean if flag else kwargs.get("type")
        help_text = kwargs.get("help") or ""
        if flag:
            help_text = f"{help_text} (true or false)".strip()
        self.options[dest] = _Option(name, default, convert, help_text)
        return self.options[dest]

    def add_argument_group(self, *args, **kwargs):
        """Options in a group are options like the others."""
        return self


def shown(default):
    """How a default value appears to the host (and in ``--help``)."""
    if isinstance(default, bool):
        return "true" if default else "false"
    return str(default)


class ParsedOptions:
    """``environment.parsed_options``: the locustfile's own options by their ``dest`` name,
    plus ``host``."""

    def __init__(self, declared):
        self._declared = declared

    def __getattr__(self, dest):
        if dest == "host":
            return _context.host()
        option = self._declared.get(dest)
        if option is None:
            raise AttributeError(
                f"no option {dest!r}: declare it with parser.add_argument('--{dest.replace('_', '-')}') "
                "in an events.init_command_line_parser listener"
            )
        value = _context.get_option(option.name)
        if value is None:
            return option.default
        if option.convert is not None:
            return option.convert(value)
        if option.default is not None and not isinstance(option.default, str):
            if value == shown(option.default):
                return option.default
            return type(option.default)(value)
        return value


class Environment:
    """What a user, a task set or a listener sees of the run."""

    def __init__(self, events, declared_options, user_classes):
        self.events = events
        self.parsed_options = ParsedOptions(declared_options)
        self.user_classes = user_classes
        self.host = _context.host()
        self.runner = None
        self.web_ui = None
        self.stats = None
        self.catch_exceptions = True
