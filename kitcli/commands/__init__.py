"""One module per command. Each exposes the command as a function that takes an options object
and returns a frozen result (or raises a :class:`~kitcli.KitError`); none of them prints."""
