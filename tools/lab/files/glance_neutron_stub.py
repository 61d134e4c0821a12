"""Stand-ins for glance and neutron on 127.0.0.1, just enough for the lab.

Nova is real; it only needs a few read-only answers from its neighbours when
servers boot with networks 'none' and are evacuated: an image (GET
/v2/images/<id> and the image schema) and empty neutron lists (ports,
networks, ...).
Usage: glance_neutron_stub.py GLANCE_PORT NEUTRON_PORT IMAGE_ID
"""
import http.server
import json
import re
import sys
import threading
import time

STAMP = '2025-01-01T00:00:00Z'
NEUTRON_EXTENSIONS = ('binding', 'binding-extended', 'security-group',
                      'port-security')


def image(image_id):
    return {
        'id': image_id, 'name': 'lab-image', 'status': 'active',
        'visibility': 'public', 'protected': False, 'os_hidden': False,
        'owner': None, 'tags': [],
        'checksum': 'ee1eca47dc88f4879d8a229cc70a07c6',
        'os_hash_algo': 'sha512', 'os_hash_value': '0' * 128,
        'size': 1024, 'virtual_size': 1024, 'min_ram': 0, 'min_disk': 0,
        'disk_format': 'qcow2', 'container_format': 'bare',
        'created_at': STAMP, 'updated_at': STAMP,
        'self': '/v2/images/' + image_id,
        'file': '/v2/images/%s/file' % image_id,
        'schema': '/v2/schemas/image'}


class Handler(http.server.BaseHTTPRequestHandler):
    """JSON answers from ``route(path)``; writes are refused with 404."""
    protocol_version = 'HTTP/1.1'

    def log_message(self, fmt, *args):
        print(time.strftime('%H:%M:%S'), self.name, fmt % args, flush=True)

    def reply(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.send_header('x-openstack-request-id', 'req-lab-stub')
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.reply(*self.route(self.path.split('?')[0].rstrip('/')))

    def refuse(self):
        length = int(self.headers.get('Content-Length') or 0)
        if length:
            self.rfile.read(length)
        self.reply(404, {'NeutronError': {
            'type': 'NotFound', 'message': 'lab stub', 'detail': ''}})

    do_POST = do_PUT = do_DELETE = do_PATCH = refuse


class Glance(Handler):
    name = 'glance'
    images = {}
    port = 0

    def route(self, path):
        if path in ('', '/versions'):
            href = 'http://127.0.0.1:%d/v2/' % self.port
            return 200, {'versions': [{
                'id': 'v2.16', 'status': 'CURRENT',
                'links': [{'rel': 'self', 'href': href}]}]}
        if path in ('/v2/schemas/image', '/v2/schemas/images'):
            some = next(iter(self.images.values()))
            return 200, {'name': 'image', 'links': [],
                         'additionalProperties': {'type': 'string'},
                         'properties': dict.fromkeys(some, {})}
        if path == '/v2/images':
            return 200, {'images': list(self.images.values()),
                         'schema': '/v2/schemas/images',
                         'first': '/v2/images'}
        match = re.match(r'^/v2/images/([^/]+)$', path)
        if match and match.group(1) in self.images:
            return 200, self.images[match.group(1)]
        return 404, {'message': 'not found'}


class Neutron(Handler):
    name = 'neutron'

    def route(self, path):
        if path == '':
            return 200, {'versions': [{'id': 'v2.0', 'status': 'CURRENT',
                                       'links': []}]}
        path = path[:-5] if path.endswith('.json') else path
        if path == '/v2.0/extensions':
            return 200, {'extensions': [
                {'alias': a, 'name': a, 'description': a, 'updated': STAMP,
                 'links': []} for a in NEUTRON_EXTENSIONS]}
        match = re.match(r'^/v2.0/([a-z\-_]+)$', path)
        if match:     # every collection is empty
            return 200, {match.group(1).replace('-', '_'): []}
        return 404, {'NeutronError': {'type': 'NotFound',
                                      'message': 'lab stub', 'detail': ''}}


def serve(port, handler):
    server = http.server.ThreadingHTTPServer(('127.0.0.1', port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print('%s stub listening on %d' % (handler.name, port), flush=True)


def main():
    glance_port, neutron_port, image_id = sys.argv[1:4]
    Glance.port = int(glance_port)
    Glance.images = {image_id: image(image_id)}
    serve(int(glance_port), Glance)
    serve(int(neutron_port), Neutron)
    threading.Event().wait()


if __name__ == '__main__':
    main()
