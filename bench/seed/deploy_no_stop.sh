#!/bin/bash
# deploy_no_stop.sh from seed 003 (the blog's CodeDeploy ApplicationStart hook), ported to the
# bench testbed. Its logic is UNCHANGED. Exactly these things were changed:
#  1. `#!/bin/bash` added (the post shows no shebang; `{1..10}` needs bash).
#  2. Paths: /home/ubuntu -> /opt/app (the app host's per-host /opt); file names kept
#     (was_ip.env, nginx_ip.env, build/libs/hype-ec2-key.pem = the testbed client key,
#     build/libs/pearls-1.0.jar = the jar the harness puts there like CodeDeploy's `files:` step).
#  3. `sudo` dropped: the bench runs as root and the testbed has no sudo.
#  4. ssh: `ubuntu@` -> `root@`, and `-o UserKnownHostsFile=/opt/app/build/known_hosts` (the
#     testbed's known_hosts; the seed relied on root's default one).
#  5. SUCCESS_HEALTH=health -> UP (the test app's /health answers {"status":"UP"}).
#  6. `sudo service nginx reload` -> `nginx -s reload` (no init system on the testbed; on
#     Ubuntu, `service nginx reload` ends in `nginx -s reload` too).
#  7. `-Dstart.delay.ms=3000` added to the java options (the app starts in 3 s, like Spring Boot).
SUCCESS_HEALTH=UP
WAS_IP=$(cat /opt/app/build/was_ip.env)
NGINX_IP=$(cat /opt/app/build/nginx_ip.env)
CURRENT_PORT=$(ssh -i /opt/app/build/build/libs/hype-ec2-key.pem -o UserKnownHostsFile=/opt/app/build/known_hosts root@${NGINX_IP} cat /etc/nginx/conf.d/service_url.inc | grep -Po '[0-9]+' | tail -1)
TARGET_PORT=0
if [ ${CURRENT_PORT} -eq 8080 ]
then
TARGET_PORT=8081
elif [ ${CURRENT_PORT} -eq 8081 ]
then
TARGET_PORT=8080
else
echo "> No WAS is connected to nginx"
exit 1
fi
TARGET_PID=$(lsof -ti tcp:${TARGET_PORT})
if [ ! -z ${TARGET_PID} ]
then
echo "> Kill WAS running at ${TARGET_PORT}"
kill ${TARGET_PID}
fi
echo "> New WAS runs at ${TARGET_PORT}"
nohup java -jar -Dserver.port=${TARGET_PORT} -Dstart.delay.ms=3000 -Dspring.profiles.active=prod -Dspring.config.import=optional:file:/opt/app/build/prod_info.env[.properties] /opt/app/build/build/libs/pearls-1.0.jar &
for RETRY in {1..10}
do
HEALTH_COUNT=$(curl -s http://${WAS_IP}:${TARGET_PORT}/health | grep ${SUCCESS_HEALTH} | wc -l)
if [ ${HEALTH_COUNT} -ge 1 ]
then
echo "> Health Check Success"
echo "set \$service_url http://${WAS_IP}:${TARGET_PORT};" | ssh -i /opt/app/build/build/libs/hype-ec2-key.pem -o UserKnownHostsFile=/opt/app/build/known_hosts root@${NGINX_IP} tee /etc/nginx/conf.d/service_url.inc
ssh -i /opt/app/build/build/libs/hype-ec2-key.pem -o UserKnownHostsFile=/opt/app/build/known_hosts root@${NGINX_IP} nginx -s reload
break
elif [ ${RETRY} -eq 10 ]
then
echo "> Health Check Fail"
exit 1
fi
echo "> Health Check Retry..."
sleep 10
done
CURRENT_PID=$(lsof -ti tcp:${CURRENT_PORT})
if [ -z ${CURRENT_PID} ]
then
echo "> 현재 구동중인 애플리케이션이 없으므로 종료하지 않습니다."
else
echo "> kill -15 ${CURRENT_PID}"
kill -15 ${CURRENT_PID}
sleep 5
fi
