"""MailSender adapters: SMTP (stdlib smtplib). The recording sender lives in ``adapters.memory.mail``."""
