package zdd.demo;

import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.context.properties.source.InvalidConfigurationPropertyValueException;
import org.springframework.stereotype.Component;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.filter.OncePerRequestFilter;

/**
 * The end-to-end tests' Spring Boot app: GET / and /version answer the version (the app.version
 * property), /slow?ms=N answers after N ms (a request in flight while a deploy stops this
 * version), and actuator's health with its probes (application.properties).
 */
@SpringBootApplication
@RestController
public class DemoApplication {

  @Value("${app.version}")
  private String version;

  public static void main(String[] args) {
    SpringApplication.run(DemoApplication.class, args);
  }

  @GetMapping("/")
  public String root() {
    return "hello " + version + "\n";
  }

  @GetMapping("/version")
  public String version() {
    return version + "\n";
  }

  @GetMapping("/slow")
  public String slow(@RequestParam(defaultValue = "1000") long ms) throws InterruptedException {
    Thread.sleep(Math.max(0, Math.min(ms, 120_000)));
    return "slow " + ms + " " + version + "\n";
  }

  /**
   * app.require-secret=true: the app needs app.secret, as one with a database password would.
   * Missing, it fails to start with Spring Boot's failure report (Description, Action).
   */
  @Component
  @ConditionalOnProperty(name = "app.require-secret", havingValue = "true")
  static class SecretCheck {
    SecretCheck(@Value("${app.secret:}") String secret) {
      if (secret.isBlank()) {
        throw new InvalidConfigurationPropertyValueException("app.secret", secret, "app.secret is required: set APP_SECRET or --app.secret");
      }
    }
  }

  /**
   * app.secure-actuator=true: /actuator/** answers 401 without credentials, as Spring Security's
   * default chain does when the health endpoint is not permitted.
   */
  @Component
  @ConditionalOnProperty(name = "app.secure-actuator", havingValue = "true")
  static class ActuatorGuard extends OncePerRequestFilter {
    @Override
    protected void doFilterInternal(HttpServletRequest req, HttpServletResponse res, FilterChain chain) throws ServletException, IOException {
      if (req.getRequestURI().startsWith(req.getContextPath() + "/actuator") && req.getHeader("Authorization") == null) {
        res.setHeader("WWW-Authenticate", "Basic realm=\"Realm\"");
        res.sendError(401);
        return;
      }
      chain.doFilter(req, res);
    }
  }
}
