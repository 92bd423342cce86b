"""Mail senders: adapters of the MailSender port."""
