"""Real mail and DAV servers behind the lab's names: Dovecot, Postfix, Radicale.

Started by the tests inside the lab's namespace with configurations generated in a
temporary directory, certificates from the lab CA, and stopped on teardown (the
namespace's teardown kills whatever is left). Nothing under /etc/dovecot, /etc/postfix or
/etc/radicale is read or changed; Postfix reads only its packaged meta files
(``meta_directory`` /etc/postfix: postfix-files, dynamicmaps.cf).

========  ============  ====================================================================
port      process       role
========  ============  ====================================================================
143, 993  dovecot       IMAP, STARTTLS and implicit TLS (RFC 9051, RFC 8314)
110, 995  dovecot       POP3, STLS and implicit TLS (RFC 1939, RFC 2595)
24        dovecot       LMTP: Postfix delivers every lab mailbox here
12345     dovecot       auth service: Postfix's SASL (smtpd_sasl_type = dovecot)
587, 465  postfix       submission, STARTTLS and implicit TLS, AUTH only after TLS
5232      radicale      CalDAV/CardDAV, behind the lab's nginx at the TXT-record paths
========  ============  ====================================================================

Every variant's address ``alice@<domain>`` is a user with :data:`PASSWORD`; mail for it
lands in ``<workdir>/mail/<domain>/alice/Maildir``. The alias domain's address is a Postfix
alias of the primary's (the user it logs in as).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

from tests.lab.lab import Lab
from tests.lab.variants import ALIAS
from tests.lab.variants import ALIAS_ADDRESS
from tests.lab.variants import ALIAS_LOGIN
from tests.lab.variants import SERVED
from tests.lab.variants import VARIANTS
from tests.processes import stop as stop_process

PASSWORD = "lab-password"
#: Where Dovecot and Postfix listen (the zones' A records for the mail names): not the
#: clients' own 127.0.0.1, which Dovecot would count as a secured connection.
ADDRESS = "127.0.0.2"
#: Executables, each with the Debian package that ships it.
TOOLS = {
    "dovecot": "dovecot-core",
    "/usr/lib/dovecot/imap": "dovecot-imapd",
    "/usr/lib/dovecot/pop3": "dovecot-pop3d",
    "/usr/lib/dovecot/lmtp": "dovecot-lmtpd",
    "postfix": "postfix",
    "radicale": "radicale",
}
IMAP_PORTS = (143, 993)
POP3_PORTS = (110, 995)
SUBMISSION_PORTS = (587, 465)
LMTP_PORT = 24
AUTH_PORT = 12345
RADICALE = "127.0.0.1:5232"
#: The DAV host of dav.lab.test and the context paths its TXT records publish.
DAV_HOST = "mail.dav.lab.test"
DAV_PATHS = ("/dav/calendars/", "/dav/contacts/")

DOVECOT_CONF = """\
# Generated for the lab (tests/lab/mailservers.py); the packaged /etc/dovecot is not read.
protocols = imap pop3 lmtp
listen = {address}
base_dir = {dir}/dovecot/run
state_dir = {dir}/dovecot/state
log_path = {dir}/dovecot.log
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = 1
mail_uid = mail
mail_gid = mail
mail_location = maildir:{dir}/mail/%d/%n/Maildir
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
ssl_min_protocol = TLSv1.2
# RFC 9051 section 6.2.3: no cleartext password before STARTTLS (LOGINDISABLED).
disable_plaintext_auth = yes
auth_mechanisms = plain login
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {dir}/dovecot/users
}}
userdb {{
  driver = static
  args = uid=mail gid=mail home={dir}/mail/%d/%n
}}
service imap-login {{
  inet_listener imap {{
    port = 143
  }}
  inet_listener imaps {{
    port = 993
    ssl = yes
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = 110
  }}
  inet_listener pop3s {{
    port = 995
    ssl = yes
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp}
  }}
}}
service auth {{
  inet_listener sasl {{
    address = 127.0.0.1
    port = {auth}
  }}
}}
protocol lmtp {{
  postmaster_address = postmaster@lab.test
}}
"""

POSTFIX_MAIN = """\
# Generated for the lab (tests/lab/mailservers.py); the packaged /etc/postfix/main.cf is not
# read (there is none: the package was installed with "No configuration").
compatibility_level = 3.6
queue_directory = {dir}/postfix/queue
data_directory = {dir}/postfix/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
shlib_directory = /usr/lib/postfix
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
maillog_file_prefixes = {dir}
maillog_file = {dir}/postfix.log
myhostname = smtp.lab.test
mydomain = lab.test
myorigin = $myhostname
mydestination =
# The listeners name their address (master.cf); this is only where the LMTP client binds.
inet_interfaces = loopback-only
inet_protocols = ipv4
alias_maps =
alias_database =
local_recipient_maps =
biff = no
virtual_mailbox_domains = {domains}
virtual_mailbox_maps = texthash:{dir}/postfix/mailboxes
# The lab's alias domain: mail to alice@<alias> lands in the primary's mailbox.
virtual_alias_domains = {alias_domain}
virtual_alias_maps = texthash:{dir}/postfix/aliases
virtual_transport = lmtp:inet:127.0.0.1:{lmtp}
smtpd_tls_chain_files = {key}, {cert}
smtpd_tls_security_level = may
# RFC 4954 section 4 / RFC 8314: AUTH only once TLS is up.
smtpd_tls_auth_only = yes
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = inet:127.0.0.1:{auth}
smtpd_relay_restrictions = permit_sasl_authenticated, reject
smtpd_recipient_restrictions = permit_sasl_authenticated, reject
"""

POSTFIX_MASTER = """\
# service type  private unpriv  chroot  wakeup  maxproc command + args
{address}:587 inet n       -       n       -       -       smtpd
  -o syslog_name=postfix/submission
  -o smtpd_tls_security_level=encrypt
{address}:465 inet n       -       n       -       -       smtpd
  -o syslog_name=postfix/submissions
  -o smtpd_tls_wrappermode=yes
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""

RADICALE_CONF = """\
# Generated for the lab (tests/lab/mailservers.py); /etc/radicale is not read.
[server]
hosts = {listen}
[auth]
type = htpasswd
htpasswd_filename = {dir}/radicale/users
htpasswd_encryption = plain
[rights]
type = owner_only
[storage]
filesystem_folder = {dir}/radicale/collections
[web]
type = none
[logging]
level = info
"""

#: The DAV host: RFC 6764 context paths proxied to Radicale (each path is a mount point:
#: X-Script-Name tells Radicale its prefix), and the bare domain's /.well-known/ passed to
#: the service, as docs/admin-guide.md (CalDAV and CardDAV) tells admins to do.
DAV_VHOST = """\
server {{
    listen 443 ssl;
    server_name {dav_host};
    ssl_certificate {cert};
    ssl_certificate_key {key};
    access_log {run}/dav.access.log;
{locations}
}}
server {{
    listen 443 ssl;
    server_name {domain};
    ssl_certificate {cert};
    ssl_certificate_key {key};
    access_log {run}/dav.access.log;
    location ^~ /.well-known/ {{
        proxy_pass http://{upstream};
        proxy_set_header Host $host;
    }}
    location / {{
        return 404;
    }}
}}
"""

DAV_LOCATION = """\
    location {path} {{
        proxy_pass http://{radicale}/;
        proxy_set_header X-Script-Name {prefix};
        proxy_set_header X-Forwarded-Proto https;
        proxy_set_header Host $host;
        proxy_pass_header Authorization;
    }}
"""


def mail_hosts() -> list[str]:
    """Every mail server name any variant's records name (one certificate covers them)."""
    names = {e.host for v in VARIANTS for e in (*v.incoming, *v.outgoing)}
    return sorted(names)


def users() -> list[str]:
    """``alice@<domain>`` of every served variant."""
    return [v.address for v in SERVED]


@dataclass(frozen=True, slots=True, kw_only=True)
class MailServers:
    """The running servers' shared directory, for reading mailboxes and calendars, and the
    processes started for them."""

    root: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def maildir(self, address: str) -> Path:
        local, _, domain = address.partition("@")
        return self.root / "mail" / domain / local / "Maildir"

    def messages(self, address: str) -> list[bytes]:
        """Every message delivered to ``address`` (new and seen), oldest first."""
        box = self.maildir(address)
        files = [p for sub in ("new", "cur") for p in (box / sub).glob("*") if p.is_file()]
        return [p.read_bytes() for p in sorted(files, key=lambda p: p.stat().st_mtime)]

    def dav_items(self) -> list[Path]:
        """Every stored calendar object and vCard (Radicale's file-system storage)."""
        base = self.root / "radicale" / "collections"
        # Radicale keeps binary caches in .Radicale.cache/ beside the items.
        return sorted(
            p
            for p in base.rglob("*")
            if p.suffix in (".ics", ".vcf") and ".Radicale.cache" not in p.parts
        )

    def logs(self) -> str:
        parts = []
        for name in ("dovecot.out", "dovecot.log", "postfix.out", "postfix.log", "radicale.log"):
            path = self.root / name
            if path.exists():
                parts.append(f"== {name}\n{path.read_text(errors='replace')[-3000:]}")
        return "\n".join(parts)


def seed_inbox(servers: MailServers, address: str, subject: str) -> None:
    """Put one message into ``address``'s Maildir (as delivery would: new/, owned by the
    mail user), for clients that fetch the inbox."""
    box = servers.maildir(address)
    for sub in ("new", "cur", "tmp"):
        (box / sub).mkdir(parents=True, exist_ok=True)
    for path in (box.parent.parent, box.parent, box, *(box / s for s in ("new", "cur", "tmp"))):
        shutil.chown(path, "mail", "mail")
    name = f"{time.time_ns()}.seed.lab"
    message = box / "new" / name
    message.write_text(
        f"From: postmaster@lab.test\r\nTo: {address}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{name}@lab.test>\r\nDate: Mon, 05 Jan 2026 09:00:00 +0000\r\n\r\n"
        "Seeded by the lab.\r\n"
    )
    shutil.chown(message, "mail", "mail")


def start(lab: Lab) -> MailServers:
    """Start Dovecot, Postfix and Radicale in the lab; put the DAV host into its nginx.

    The directory is made with mkdtemp and opened to other users (0755): Dovecot and
    Postfix drop privileges (mail, dovenull, postfix) and pytest's temporary directories are
    private to root. Always pair with :func:`stop`, also on failure.
    """
    root = Path(tempfile.mkdtemp(prefix="aclab-mail-"))
    root.chmod(0o755)
    servers = MailServers(root=root)
    try:
        cert, key = _certificate(lab, root)
        servers.processes.append(_start_dovecot(lab, root, cert, key))
        servers.processes.append(_start_postfix(lab, root, cert, key))
        servers.processes.append(_start_radicale(lab, root))
        _add_dav_vhost(lab, root, cert, key)
        for port in (*IMAP_PORTS, *POP3_PORTS, *SUBMISSION_PORTS, LMTP_PORT, AUTH_PORT, 5232):
            _wait_port(lab, port, servers)
    except BaseException:
        stop(lab, servers)
        raise
    return servers


def stop(lab: Lab, servers: MailServers) -> None:
    """Stop Postfix (``postfix stop``: its master has children of its own), then Dovecot and
    Radicale, then remove the directory. Whatever is left is killed with the namespace."""
    postfix = servers.root / "postfix" / "etc"
    if (postfix / "main.cf").exists():
        lab.ns.run("postfix", "-c", str(postfix), "stop", timeout=30)
    for process in reversed(servers.processes):
        stop_process(process)
    shutil.rmtree(servers.root, ignore_errors=True)


def _certificate(lab: Lab, root: Path) -> tuple[Path, Path]:
    leaf = lab.ca.issue_cert(*mail_hosts(), DAV_HOST, "dav.lab.test")
    cert, key = root / "mail-cert.pem", root / "mail-key.pem"
    cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    leaf.private_key_pem.write_to_path(str(key))
    key.chmod(0o600)
    return cert, key


def _start_dovecot(lab: Lab, root: Path, cert: Path, key: Path) -> subprocess.Popen[bytes]:
    base = root / "dovecot"
    base.mkdir()
    mail = root / "mail"
    mail.mkdir()
    shutil.chown(mail, "mail", "mail")
    (base / "users").write_text("".join(f"{u}:{{PLAIN}}{PASSWORD}::::::\n" for u in users()))
    config = base / "dovecot.conf"
    config.write_text(
        DOVECOT_CONF.format(
            dir=root, address=ADDRESS, cert=cert, key=key, lmtp=LMTP_PORT, auth=AUTH_PORT
        )
    )
    return lab.ns.spawn(["dovecot", "-F", "-c", str(config)], root / "dovecot.out")


def _start_postfix(lab: Lab, root: Path, cert: Path, key: Path) -> subprocess.Popen[bytes]:
    etc = root / "postfix" / "etc"
    etc.mkdir(parents=True)
    for sub in ("queue", "data"):
        (root / "postfix" / sub).mkdir()
    shutil.chown(root / "postfix" / "data", "postfix", "postfix")
    domains = sorted({u.partition("@")[2] for u in users()})
    (etc / "main.cf").write_text(
        POSTFIX_MAIN.format(
            dir=root,
            domains=" ".join(domains),
            alias_domain=ALIAS,
            lmtp=LMTP_PORT,
            auth=AUTH_PORT,
            cert=cert,
            key=key,
        )
    )
    (etc / "master.cf").write_text(POSTFIX_MASTER.format(address=ADDRESS))
    (root / "postfix" / "mailboxes").write_text("".join(f"{u} {u}\n" for u in users()))
    (root / "postfix" / "aliases").write_text(f"{ALIAS_ADDRESS} {ALIAS_LOGIN}\n")
    return lab.ns.spawn(["postfix", "-c", str(etc), "start-fg"], root / "postfix.out")


def _start_radicale(lab: Lab, root: Path) -> subprocess.Popen[bytes]:
    base = root / "radicale"
    (base / "collections").mkdir(parents=True)
    (base / "users").write_text("".join(f"{u}:{PASSWORD}\n" for u in users()))
    config = base / "config"
    config.write_text(RADICALE_CONF.format(dir=root, listen=RADICALE))
    return lab.ns.spawn(["radicale", "--config", str(config)], root / "radicale.log")


def _add_dav_vhost(lab: Lab, root: Path, cert: Path, key: Path) -> None:
    """The DAV host's server blocks go into the directory the lab's nginx includes, then
    nginx reloads (it started before us)."""
    locations = "".join(
        DAV_LOCATION.format(path=path, prefix=path.rstrip("/"), radicale=RADICALE)
        for path in DAV_PATHS
    )
    text = DAV_VHOST.format(
        dav_host=DAV_HOST,
        domain="dav.lab.test",
        cert=cert,
        key=key,
        run=root,
        locations=locations,
        upstream="127.0.0.1:8000",
    )
    (lab.vhosts / "dav.conf").write_text(text)
    lab.reload_nginx()


def _wait_port(lab: Lab, port: int, servers: MailServers, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    address = "127.0.0.1" if port in (LMTP_PORT, AUTH_PORT, 5232) else ADDRESS
    while time.monotonic() < deadline:
        done = lab.ns.run(
            "python3", "-c", f"import socket; socket.create_connection(('{address}', {port}), 1)"
        )
        if done.returncode == 0:
            return
        if any(p.poll() is not None for p in lab.ns.processes):
            break
        time.sleep(0.2)
    raise RuntimeError(f"nothing listens on port {port} in the lab:\n{servers.logs()}")


def missing_tools() -> list[str]:
    """Debian packages of :data:`TOOLS` that are not installed."""
    return [
        pkg
        for exe, pkg in TOOLS.items()
        if not (os.access(exe, os.X_OK) if exe.startswith("/") else _which(exe))
    ]


def _which(exe: str) -> str | None:
    return shutil.which(exe) or shutil.which(exe, path="/usr/sbin:/sbin")
