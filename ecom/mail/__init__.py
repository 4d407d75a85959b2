"""Mail for the shop: the embedded SMTP sink a new shop sends to (``sink``, run as a child process by
``process``), the reader of what it received (``maildir``), and the SMTP sender (``sender``)."""
