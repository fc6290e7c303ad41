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
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.context.annotation.Configuration;
import org.springframework.validation.annotation.Validated;
import jakarta.validation.constraints.NotBlank;
import org.springframework.stereotype.Component;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.filter.OncePerRequestFilter;

/**
 * The end-to-end tests' Spring Boot app: GET / and /version answer `version=V port=P` (V: the
 * app.version property, P: the port that took the request), /slow?ms=N answers after N ms (a
 * request in flight while a deploy stops this version), and actuator's health with its probes
 * (application.properties).
 */
@SpringBootApplication
@RestController
public class DemoApplication {

  @Value("${app.version}")
  private String version;

  public static void main(String[] args) {
    SpringApplication.run(DemoApplication.class, args);
  }

  @GetMapping({"/", "/version"})
  public String version(HttpServletRequest req) {
    return "version=" + version + " port=" + req.getLocalPort() + "\n";
  }

  @GetMapping("/slow")
  public String slow(@RequestParam(defaultValue = "1000") long ms, HttpServletRequest req) throws InterruptedException {
    Thread.sleep(Math.max(0, Math.min(ms, 120_000)));
    return "slow " + ms + " version=" + version + " port=" + req.getLocalPort() + "\n";
  }

  /**
   * app.payment.enabled=true: the app needs its payment settings, as one with a database or a
   * remote API does. Missing, it fails to start with Spring Boot's failure report (Description:
   * one block per property, Action), as teams meet it when a secret was not passed.
   */
  @Validated
  @ConfigurationProperties("app.payment")
  public record PaymentProperties(@NotBlank String apiKey, @NotBlank String url, @NotBlank String merchantId) {}

  @Configuration(proxyBeanMethods = false)
  @ConditionalOnProperty(name = "app.payment.enabled", havingValue = "true")
  @EnableConfigurationProperties(PaymentProperties.class)
  static class PaymentConfig {}

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
