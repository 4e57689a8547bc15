"""Security: TLS, SASL authentication, principals and (later) authorization.

- kraft.security.listener: each listener's security settings, read from
  server.properties with Kafka's keys and per-listener overrides, checked at
  startup (a config asking for what kraft cannot do refuses to start).
- kraft.security.tls: SSLContexts from PEM/PKCS12 keystores and truststores.
- kraft.security.principal: KafkaPrincipal and the certificate-subject mapping.
- kraft.security.jaas: the JAAS config syntax of `sasl.jaas.config`.
"""
