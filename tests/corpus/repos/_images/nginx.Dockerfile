# nginx:stacktest: a stand-in for the official nginx image, from Debian bookworm's nginx: serves
# /usr/share/nginx/html on port 80 (conf.d/default.conf, where teams mount their own), logs to the
# container's output, runs in the foreground; SIGQUIT: graceful stop.
ARG DEBIAN_IMAGE
FROM ${DEBIAN_IMAGE}
RUN rm -f /etc/nginx/sites-enabled/default \
    && mkdir -p /usr/share/nginx/html \
    && ln -sf /dev/stdout /var/log/nginx/access.log \
    && ln -sf /dev/stderr /var/log/nginx/error.log
COPY nginx-default.conf /etc/nginx/conf.d/default.conf
COPY nginx-index.html /usr/share/nginx/html/index.html
EXPOSE 80
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
