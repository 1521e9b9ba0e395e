# The template unit mnistd@.service is mnistd.service changed by this script (make install
# applies it, so the two never drift apart): one daemon per configuration file
# /etc/mnistd/NAME.conf (`systemctl enable --now mnistd@NAME`), each with its own state and
# runtime directories, its own control socket (no socket activation) and, on a shared inbox,
# its own claim directory (--instance NAME).
s#^Description=.*#Description=mnistd instance %i: classifies handwritten digits (configuration /etc/mnistd/%i.conf)#
/^Requires=mnistd\.socket$/d
s#^After=mnistd\.socket$#After=network-online.target remote-fs.target\nWants=network-online.target#
s#^ExecStart=\([^ ]*\) --config /etc/mnistd/mnistd\.conf --state-dir /var/lib/mnistd #ExecStart=\1 --config /etc/mnistd/%i.conf --instance %i --state-dir /var/lib/mnistd-%i --socket /run/mnistd-%i/control.sock #
s#^StateDirectory=mnistd$#StateDirectory=mnistd-%i#
/created by mnistd\.socket/d
s#^RuntimeDirectory=mnistd$#RuntimeDirectory=mnistd-%i#
/^Also=mnistd\.socket$/d
