// Tiny test HTTP server standing in for a Spring Boot jar (JDK only, no dependencies).
// Built by test/testbed/testbed.ts (javac + jar). Behaviour is driven by system properties:
//   server.port (8080), app.version (else version.txt resource), start.delay.ms (0),
//   health.mode = up | down | wrongbody | flap | crash-after:N, health.down.ports=P1,P2 (down on
//   those ports only), health.ready.after.ms=N (503 for the first N ms after it listens: a Spring
//   Boot app whose readiness lags its port), ignore.sigterm=true|false, warmup.requests=N warmup.ms=M warmup.path=P
//   (the first N requests to P take M ms longer: a cold JVM), fail.share=0.05 (that share of
//   requests, health checks aside, answered 500), latency.ms=N (added to every such request),
//   cpu.us=N (every such request first spins on the CPU for N microseconds: the work a real
//   handler does, so that a busy host queues requests for its cores), pause.ms=N
//   pause.every.ms=M (every M ms the app stops serving for N ms, as in a stop-the-world GC: the
//   requests that arrive meanwhile, health checks aside, queue behind it).
// Endpoints: /actuator/health, /health, /, /version, /slow?ms=N, /info.
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

public class App {
    static String version;
    static int port;
    static long pid;
    static String[] mainArgs;
    static String healthMode;
    static long readyAt;
    static final AtomicLong healthCount = new AtomicLong();
    static final AtomicInteger inflight = new AtomicInteger();

    public static void main(String[] args) throws Exception {
        mainArgs = args;
        pid = ProcessHandle.current().pid();
        port = Integer.parseInt(System.getProperty("server.port", "8080"));
        version = System.getProperty("app.version");
        if (version == null) version = readVersionResource();
        healthMode = System.getProperty("health.mode", "up");
        // health.down.ports=8081,8082: down on those ports only (a release bad on one instance)
        for (String p : System.getProperty("health.down.ports", "").split(",")) {
            if (p.trim().equals(String.valueOf(port))) healthMode = "down";
        }
        long delay = Long.parseLong(System.getProperty("start.delay.ms", "0"));
        boolean ignoreTerm = Boolean.parseBoolean(System.getProperty("ignore.sigterm", "false"));

        if (ignoreTerm) {
            sun.misc.Signal.handle(new sun.misc.Signal("TERM"), sig -> {
                System.out.println("ignoring SIGTERM version=" + version + " port=" + port);
                System.out.flush();
            });
        }
        if (delay > 0) {
            System.out.println("starting (delay " + delay + " ms) version=" + version + " port=" + port);
            System.out.flush();
            Thread.sleep(delay);
        }

        HttpServer server = HttpServer.create(new InetSocketAddress("0.0.0.0", port), 1024);
        ExecutorService pool = Executors.newFixedThreadPool(64);
        server.setExecutor(pool);
        server.createContext("/", App::handle);
        server.start();
        if (pauseMs > 0) {
            Thread pauser = new Thread(() -> {
                try {
                    for (;;) {
                        Thread.sleep(Math.max(1, pauseEveryMs - pauseMs));
                        world.writeLock().lock();
                        try { Thread.sleep(pauseMs); } finally { world.writeLock().unlock(); }
                    }
                } catch (InterruptedException ignored) { }
            });
            pauser.setDaemon(true);
            pauser.start();
        }
        readyAt = System.currentTimeMillis() + Long.getLong("health.ready.after.ms", 0L);
        if (!ignoreTerm) {
            // Graceful stop on SIGTERM, like Spring Boot's server.shutdown=graceful: stop accepting,
            // let in-flight requests finish (at most 10 s), then exit. JDK 17's HttpServer.stop(d)
            // always waits the full d seconds when nothing is in flight (JDK-8304065), so it runs in
            // a daemon thread and the hook itself waits only for the in-flight count to reach 0.
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                System.out.println("stopping version=" + version + " port=" + port + " inflight=" + inflight.get());
                System.out.flush();
                Thread stopper = new Thread(() -> server.stop(10));
                stopper.setDaemon(true);
                stopper.start();
                long deadline = System.currentTimeMillis() + 10_000;
                try {
                    Thread.sleep(50);
                    while (inflight.get() > 0 && System.currentTimeMillis() < deadline) Thread.sleep(10);
                    Thread.sleep(20);
                } catch (InterruptedException ignored) { }
                System.out.println("stopped version=" + version + " port=" + port + " inflight=" + inflight.get());
                System.out.flush();
            }));
        }
        System.out.println("started version=" + version + " port=" + port + " pid=" + pid);
        System.out.flush();
    }

    static String readVersionResource() throws IOException {
        try (InputStream in = App.class.getResourceAsStream("/version.txt")) {
            if (in == null) return "unknown";
            return new String(in.readAllBytes(), StandardCharsets.UTF_8).trim();
        }
    }

    // A cold JVM (class loading, lazy init, JIT): the first warmup.requests requests to
    // warmup.path take warmup.ms longer. Off unless warmup.requests > 0.
    static final AtomicLong coldLeft = new AtomicLong(Long.getLong("warmup.requests", 0L));
    static final String coldPath = System.getProperty("warmup.path", "/version");
    static final long coldMs = Long.getLong("warmup.ms", 50L);

    static final double failShare = Double.parseDouble(System.getProperty("fail.share", "0"));
    static final long failEvery = failShare > 0 ? Math.max(1, Math.round(1 / failShare)) : 1;
    static final long latencyMs = Long.getLong("latency.ms", 0L);
    static final long cpuNanos = Long.getLong("cpu.us", 0L) * 1000L;
    static final long pauseMs = Long.getLong("pause.ms", 0L);
    static final long pauseEveryMs = Long.getLong("pause.every.ms", 1000L);
    static final java.util.concurrent.locks.ReentrantReadWriteLock world = new java.util.concurrent.locks.ReentrantReadWriteLock();
    static volatile long spun;
    static final AtomicLong served = new AtomicLong();

    static void handle(HttpExchange ex) throws IOException {
        inflight.incrementAndGet();
        try {
            String path = ex.getRequestURI().getPath();
            String query = ex.getRequestURI().getRawQuery();
            if (path.equals(coldPath) && coldLeft.get() > 0 && coldLeft.getAndDecrement() > 0) {
                try { Thread.sleep(coldMs); } catch (InterruptedException ignored) { }
            }
            // A bad release: fail.share of the requests (not /health) answered 500, latency.ms added.
            if (!path.endsWith("health")) {
                if (pauseMs > 0) {
                    world.readLock().lock();
                    world.readLock().unlock();
                }
                if (cpuNanos > 0) {
                    // CPU time, not wall time: on a busy host the spin waits for a core like real work.
                    java.lang.management.ThreadMXBean mx = ManagementFactory.getThreadMXBean();
                    long until = mx.getCurrentThreadCpuTime() + cpuNanos;
                    long x = 0;
                    while (mx.getCurrentThreadCpuTime() < until) {
                        for (int i = 0; i < 1000; i++) x += i ^ x;
                    }
                    spun = x;
                }
                if (latencyMs > 0) {
                    try { Thread.sleep(latencyMs); } catch (InterruptedException ignored) { }
                }
                if (failShare > 0 && Math.floorMod(served.incrementAndGet(), failEvery) == 0) {
                    send(ex, 500, "text/plain", "injected failure version=" + version);
                    return;
                }
            }
            switch (path) {
                case "/actuator/health":
                case "/health":
                    health(ex);
                    break;
                case "/":
                case "/version":
                    send(ex, 200, "text/plain", "version=" + version + " port=" + port + " pid=" + pid);
                    break;
                case "/slow": {
                    long ms = 1000;
                    if (query != null) {
                        for (String kv : query.split("&")) {
                            if (kv.startsWith("ms=")) ms = Long.parseLong(kv.substring(3));
                        }
                    }
                    try { Thread.sleep(ms); } catch (InterruptedException ignored) { }
                    send(ex, 200, "text/plain", "slow-done version=" + version);
                    break;
                }
                case "/info":
                    send(ex, 200, "text/plain", info());
                    break;
                default:
                    send(ex, 404, "text/plain", "not found");
            }
        } catch (RuntimeException e) {
            send(ex, 500, "text/plain", "error " + e);
        } finally {
            ex.close();
            inflight.decrementAndGet();
        }
    }

    static void health(HttpExchange ex) throws IOException {
        long n = healthCount.incrementAndGet();
        String mode = healthMode;
        if (System.currentTimeMillis() < readyAt) mode = "down";
        if (mode.startsWith("crash-after:")) {
            long limit = Long.parseLong(mode.substring("crash-after:".length()));
            if (n > limit) {
                System.out.println("crashing after " + limit + " health requests");
                System.out.flush();
                Runtime.getRuntime().halt(137);
            }
            mode = "up";
        }
        switch (mode) {
            case "down":
                send(ex, 503, "application/json", "{\"status\":\"DOWN\"}");
                break;
            case "wrongbody":
                send(ex, 200, "application/json", "{\"status\":\"OUT_OF_SERVICE\"}");
                break;
            case "flap":
                if (n % 2 == 1) send(ex, 200, "application/json", "{\"status\":\"UP\"}");
                else send(ex, 503, "application/json", "{\"status\":\"DOWN\"}");
                break;
            default:
                send(ex, 200, "application/json", "{\"status\":\"UP\"}");
        }
    }

    // One item per line, "key=value"; backslash, CR and LF in values are escaped as \\, \r, \n.
    static String info() {
        StringBuilder sb = new StringBuilder();
        line(sb, "version", version);
        line(sb, "port", String.valueOf(port));
        line(sb, "pid", String.valueOf(pid));
        line(sb, "cwd", System.getProperty("user.dir"));
        List<String> jvm = ManagementFactory.getRuntimeMXBean().getInputArguments();
        line(sb, "jvmArgCount", String.valueOf(jvm.size()));
        for (int i = 0; i < jvm.size(); i++) line(sb, "jvmArg[" + i + "]", jvm.get(i));
        line(sb, "argCount", String.valueOf(mainArgs.length));
        for (int i = 0; i < mainArgs.length; i++) line(sb, "arg[" + i + "]", mainArgs[i]);
        Map<String, String> env = new TreeMap<>(System.getenv());
        for (Map.Entry<String, String> e : env.entrySet()) {
            if (e.getKey().startsWith("APP_")) line(sb, "env." + e.getKey(), e.getValue());
        }
        return sb.toString();
    }

    static void line(StringBuilder sb, String key, String value) {
        sb.append(key).append('=').append(escape(value)).append('\n');
    }

    static String escape(String s) {
        return s.replace("\\", "\\\\").replace("\r", "\\r").replace("\n", "\\n");
    }

    static void send(HttpExchange ex, int status, String type, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", type + "; charset=utf-8");
        ex.getResponseHeaders().set("X-App-Version", version);
        ex.sendResponseHeaders(status, bytes.length);
        try (OutputStream os = ex.getResponseBody()) {
            os.write(bytes);
        }
    }
}
