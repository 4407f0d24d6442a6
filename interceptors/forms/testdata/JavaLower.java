import java.io.*;
import java.nio.charset.StandardCharsets;
public class JavaLower {
  // Reads lines of hex-encoded UTF-8 strings on stdin, writes each lower-cased, hex-encoded.
  public static void main(String[] a) throws Exception {
    BufferedReader r = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    PrintStream o = new PrintStream(new BufferedOutputStream(System.out), false, "UTF-8");
    String l;
    while ((l = r.readLine()) != null) {
      o.println(l.toLowerCase());
    }
    o.flush();
  }
}
