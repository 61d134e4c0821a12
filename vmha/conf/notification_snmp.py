"""[notification_snmp]: SNMP traps or informs for the operators' NMS.

Used by the ``snmp`` notification driver. The traps are defined in
``etc/mib/VMHA-MIB.txt``; see doc/notifications.md for the OID layout.
"""

from oslo_config import cfg

GROUP = cfg.OptGroup(
    'notification_snmp',
    title='SNMP notification options',
    help='The snmp notification driver sends one SNMP notification per '
         'vmha event (VMHA-MIB, etc/mib/VMHA-MIB.txt) to every target.')

# Placeholder arc: Net-SNMP's "playpen" subtree (NET-SNMP-MIB::netSnmpPlaypen,
# 1.3.6.1.4.1.8072.9999.9999), reserved for private experiments. Sites with
# their own enterprise number move vmha's traps there with ``base_oid``.
DEFAULT_BASE_OID = '1.3.6.1.4.1.8072.9999.9999.4242'

_AUTH_CHOICES = [
    ('none', 'No authentication (noAuthNoPriv).'),
    ('MD5', 'HMAC-MD5-96 (legacy).'),
    ('SHA', 'HMAC-SHA-96 (SHA-1).'),
    ('SHA224', 'HMAC-SHA-224 (RFC 7860).'),
    ('SHA256', 'HMAC-SHA-256 (RFC 7860).'),
    ('SHA384', 'HMAC-SHA-384 (RFC 7860).'),
    ('SHA512', 'HMAC-SHA-512 (RFC 7860).'),
]
_PRIV_CHOICES = [
    ('none', 'No encryption (authNoPriv).'),
    ('DES', 'CBC-DES (legacy).'),
    ('3DES', 'Triple-DES EDE (legacy).'),
    ('AES', 'CFB128-AES-128 (RFC 3826).'),
    ('AES192', 'CFB128-AES-192, key extended as Net-SNMP does '
               '(draft-blumenthal-aes-usm).'),
    ('AES256', 'CFB128-AES-256, key extended as Net-SNMP does '
               '(draft-blumenthal-aes-usm).'),
    ('AES192C', 'CFB128-AES-192, key extended as Cisco does '
                '(draft-reeder-snmpv3-usm-3desede).'),
    ('AES256C', 'CFB128-AES-256, key extended as Cisco does '
                '(draft-reeder-snmpv3-usm-3desede).'),
]
AUTH_PROTOCOLS = tuple(name for name, _ in _AUTH_CHOICES)
PRIV_PROTOCOLS = tuple(name for name, _ in _PRIV_CHOICES)

OPTS = [
    cfg.ListOpt(
        'targets',
        default=[],
        help='Where notifications go: a list of host:port entries (the port '
             'defaults to 162; write IPv6 addresses as [addr]:port), e.g. '
             '"nms1.example.org:162,192.0.2.7:1162". Each event is sent to '
             'every target.'),
    cfg.StrOpt(
        'version',
        default='2c',
        choices=[('2c', 'SNMPv2c, authenticated by community string.'),
                 ('3', 'SNMPv3 USM: security_name with auth/priv '
                       'protocols and keys.')],
        help='SNMP version of the notifications.'),
    cfg.StrOpt(
        'community',
        default='public',
        secret=True,
        help='SNMPv2c community string (version 2c only).'),
    cfg.StrOpt(
        'security_name',
        help='SNMPv3 user name (version 3 only; required there).'),
    cfg.StrOpt(
        'auth_protocol',
        default='SHA',
        choices=_AUTH_CHOICES,
        help='SNMPv3 authentication protocol; "none" sends '
             'noAuthNoPriv messages.'),
    cfg.StrOpt(
        'auth_key',
        secret=True,
        help='SNMPv3 authentication pass phrase (at least 8 characters); '
             'required unless auth_protocol is "none".'),
    cfg.StrOpt(
        'priv_protocol',
        default='AES',
        choices=_PRIV_CHOICES,
        help='SNMPv3 privacy (encryption) protocol; "none" sends '
             'authNoPriv messages. Needs authentication.'),
    cfg.StrOpt(
        'priv_key',
        secret=True,
        help='SNMPv3 privacy pass phrase (at least 8 characters); required '
             'unless priv_protocol is "none".'),
    cfg.StrOpt(
        'engine_id',
        help='SNMPv3 engine id of this vmha process, as hex ("0x8000..."). '
             'For v3 traps the receiver must know it (net-snmp: createUser '
             '-e ENGINEID ...). Default: derived from this host name '
             '(0x80001f8804 followed by the host name in hex, RFC 3411 '
             'text format); the driver logs the id it uses. Informs do not '
             'need it.'),
    cfg.StrOpt(
        'notification_type',
        default='trap',
        choices=[('trap', 'Fire-and-forget: success means sent, not '
                          'received.'),
                 ('inform', 'Acknowledged by the receiver; a receiver that '
                            'does not answer within timeout/retries is a '
                            'failure (logged and counted).')],
        help='Send traps or informs.'),
    cfg.FloatOpt(
        'timeout',
        default=2.0,
        min=0.1,
        help='Informs: seconds to wait for the acknowledgement of one '
             'attempt. A notify call never takes longer than '
             '2 x timeout x (retries + 1) + 1 seconds.'),
    cfg.IntOpt(
        'retries',
        default=1,
        min=0,
        max=10,
        help='Informs: how many times an unacknowledged inform is sent '
             'again.'),
    cfg.StrOpt(
        'base_oid',
        default=DEFAULT_BASE_OID,
        help='Base OID of VMHA-MIB (the vmhaMIB module identity). The '
             'default is a placeholder under Net-SNMP\'s experimental '
             'playpen arc; a site with its own enterprise number may move '
             'vmha\'s traps below it (edit the MIB\'s MODULE-IDENTITY to '
             'match). Notifications are <base_oid>.0.N, varbinds '
             '<base_oid>.1.1.N.0.'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts():
    return {GROUP: OPTS}
