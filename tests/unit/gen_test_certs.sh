#!/bin/sh
# gen_test_certs.sh DIR - a throwaway CA, a server certificate for localhost /
# 127.0.0.1 and a client certificate, all signed by that CA, written to DIR.
# The TLS unit tests run it into a fresh temp dir, so no private key is ever
# committed. Needs only the openssl command line tool.
#
# Writes: ca.pem ca.key server.pem server.key client.pem client.key
#         other-ca.pem other-ca.key (an unrelated CA, for the negative tests)
set -eu
dir=${1:?usage: gen_test_certs.sh DIR}
mkdir -p "$dir"
cd "$dir"

days=2
subj_ca="/CN=shimkit test CA"

# RSA 2048 keeps generation fast; EC would do too.
gen_ca() { # name subject
  openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days "$days" \
    -subj "$2" -keyout "$1.key" -out "$1.pem" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}

gen_leaf() { # name subject extensions-file
  openssl req -newkey rsa:2048 -nodes -sha256 -subj "$2" \
    -keyout "$1.key" -out "$1.csr" 2>/dev/null
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial \
    -days "$days" -sha256 -extfile "$3" -out "$1.pem" 2>/dev/null
  rm -f "$1.csr"
}

gen_ca ca "$subj_ca"
gen_ca other-ca "/CN=shimkit unrelated CA"

cat > server.ext <<'EOF'
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,DNS:shimkit.test,IP:127.0.0.1
EOF
cat > client.ext <<'EOF'
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth
EOF

gen_leaf server "/CN=localhost" server.ext
gen_leaf client "/CN=shimkit test client" client.ext
rm -f server.ext client.ext ca.srl
chmod 600 ./*.key
